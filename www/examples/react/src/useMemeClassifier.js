// A React hook around memeclip: the bundle loads once per URL, and the classifier is disposed
// when the component goes away or the URL changes.
import { useEffect, useState } from 'react';
import { MemeClassifier } from 'memeclip';

/** `{ classifier, progress, error }`: `classifier` is null until the bundle has loaded. */
export function useMemeClassifier(bundleUrl, options) {
  const [state, setState] = useState({ classifier: null, progress: null, error: null });
  useEffect(() => {
    let live = true;
    let loaded = null;
    setState({ classifier: null, progress: null, error: null });
    MemeClassifier.load(bundleUrl, {
      ...options,
      onProgress: (progress) => live && setState((s) => ({ ...s, progress })),
    }).then(
      (classifier) => {
        if (live) {
          loaded = classifier;
          setState({ classifier, progress: null, error: null });
        } else {
          classifier.dispose();
        }
      },
      (error) => live && setState({ classifier: null, progress: null, error }),
    );
    return () => {
      live = false;
      loaded?.dispose();
    };
    // Options are read once per bundle URL.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [bundleUrl]);
  return state;
}
