// Screens the image the user picks, on the device, and shows the decision.
import { useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useMemeClassifier } from './useMemeClassifier.js';

function App() {
  const { classifier, progress, error } = useMemeClassifier('/model.memeclip');
  const [verdict, setVerdict] = useState(null);
  if (error) return <p role="alert">Could not load the model: {error.message}</p>;
  if (!classifier) return <p>Loading the model{progress ? ` (${progress.loaded} bytes)` : ''}…</p>;
  const screen = async (file) => setVerdict(await classifier.screen(file));
  return (
    <main>
      <input type="file" accept="image/*" onChange={(e) => e.target.files[0] && screen(e.target.files[0])} />
      {verdict && (
        <p id="decision" data-decision={verdict.decision}>
          {verdict.decision}: {verdict.reasons.map((r) => `${r.task} ${r.label} ${r.prob.toFixed(2)}`).join(', ') || 'no threshold reached'}
        </p>
      )}
    </main>
  );
}

createRoot(document.getElementById('root')).render(<App />);
