// From probabilities to a decision: per task and label, a probability from which a meme is sent
// to review and one from which it is blocked.

/**
 * The defaults: a meme is blocked when P(Harmful Meme) >= 0.8 and reviewed from 0.5, for
 * PrideMM's `hate` task and HarMeme's `harmful`. Other tasks decide nothing unless thresholds
 * name them.
 */
export const DEFAULT_THRESHOLDS = Object.freeze({
  hate: Object.freeze({ 'Harmful Meme': Object.freeze({ review: 0.5, block: 0.8 }) }),
  harmful: Object.freeze({ 'Harmful Meme': Object.freeze({ review: 0.5, block: 0.8 }) }),
});

function checkLimit(where, limit) {
  if (limit === null || typeof limit !== 'object') throw new TypeError(`${where}: expected { review, block }`);
  for (const key of Object.keys(limit)) {
    if (key !== 'review' && key !== 'block') throw new TypeError(`${where}: unknown field "${key}" (expected review, block)`);
    const v = limit[key];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new TypeError(`${where}.${key}: expected a probability in [0, 1], got ${v}`);
  }
  if (limit.review !== undefined && limit.block !== undefined && limit.review > limit.block) {
    throw new TypeError(`${where}: review (${limit.review}) is above block (${limit.block})`);
  }
}

/** Checks thresholds against the classifier's tasks, naming what does not fit. */
export function checkThresholds(thresholds, tasks) {
  if (thresholds === undefined) return;
  if (thresholds === null || typeof thresholds !== 'object') throw new TypeError('thresholds: expected { task: { label: { review, block } } }');
  for (const [name, labels] of Object.entries(thresholds)) {
    const task = tasks.find((t) => t.name === name);
    if (!task) throw new TypeError(`thresholds: no task "${name}" (tasks: ${tasks.map((t) => t.name).join(', ')})`);
    if (labels === null) continue;
    for (const [label, limit] of Object.entries(labels)) {
      if (!task.labels.includes(label)) throw new TypeError(`thresholds.${name}: no label "${label}" (labels: ${task.labels.join(', ')})`);
      checkLimit(`thresholds.${name}.${label}`, limit);
    }
  }
}

/**
 * `base` with the tasks `extra` names replaced (`null` turns a task's thresholds off). At load,
 * the defaults' tasks that the bundle lacks are dropped quietly; what a caller gives is checked.
 */
export function mergeThresholds(base, extra, tasks, dropMissing) {
  checkThresholds(extra, tasks);
  const merged = {};
  for (const [name, labels] of Object.entries(base ?? {})) {
    const task = tasks.find((t) => t.name === name);
    if (dropMissing && !task) continue;
    merged[name] = Object.fromEntries(Object.entries(labels).filter(([l]) => !dropMissing || task.labels.includes(l)));
  }
  for (const [name, labels] of Object.entries(extra ?? {})) {
    if (labels === null) delete merged[name];
    else merged[name] = { ...labels };
  }
  return merged;
}

/** `{ decision, reasons }` for a classification's tasks: the worst level any label reaches. */
export function decide(tasks, thresholds) {
  const reasons = [];
  for (const [name, labels] of Object.entries(thresholds)) {
    const result = tasks[name];
    if (!result) continue; // a task removed since
    for (const [label, { review, block }] of Object.entries(labels)) {
      const prob = result.probs[result.labels.indexOf(label)];
      if (prob === undefined) continue;
      const level = block !== undefined && prob >= block ? 'block' : review !== undefined && prob >= review ? 'review' : null;
      if (level) reasons.push({ task: name, label, prob, level });
    }
  }
  const rank = { block: 2, review: 1 };
  reasons.sort((a, b) => rank[b.level] - rank[a.level] || b.prob - a.prob);
  const decision = reasons[0]?.level ?? 'allow';
  return { decision, reasons };
}
