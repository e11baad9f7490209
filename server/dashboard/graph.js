// The dashboard's dependency graph: a version's resources laid out in layers by their
// `requires` and drawn on a canvas, which one can drag, zoom and click. No DOM node per
// resource: a few thousand resources draw in one frame.

const STATE_COLOURS = { deployed: "#16a34a", failed: "#dc2626", deploying: "#2563eb", skipped: "#d97706", skipped_for_undefined: "#d97706" };

const NODE_W = 160;
const NODE_H = 20;

// Layers from the requires (a resource sits below everything it requires), ordered in
// each layer by the mean place of what it requires; resources in a cycle go last.
export function layOut(resources) {
  const byId = new Map();
  const nodes = resources.map((r) => {
    const node = { id: r.id, requires: r.requires || [], label: r.id.replace(/^[^:]*::/, ""), layer: 0, x: 0, y: 0, order: 0 };
    byId.set(r.id, node);
    return node;
  });
  const dependents = new Map();
  const waiting = new Map();
  for (const node of nodes) {
    const known = node.requires.filter((id) => byId.has(id));
    waiting.set(node.id, known.length);
    for (const id of known) {
      if (!dependents.has(id)) dependents.set(id, []);
      dependents.get(id).push(node);
    }
  }
  const queue = nodes.filter((n) => waiting.get(n.id) === 0);
  let placed = 0;
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i];
    placed++;
    for (const dependent of dependents.get(node.id) || []) {
      dependent.layer = Math.max(dependent.layer, node.layer + 1);
      const left = waiting.get(dependent.id) - 1;
      waiting.set(dependent.id, left);
      if (left === 0) queue.push(dependent);
    }
  }
  let layers = 0;
  for (const node of nodes) layers = Math.max(layers, node.layer + 1);
  if (placed < nodes.length) {
    for (const node of nodes) if (waiting.get(node.id) > 0) node.layer = layers;
    layers += 1;
  }
  const rows = Array.from({ length: layers }, () => []);
  for (const node of nodes) rows[node.layer].push(node);
  // Very wide layers are wrapped into several rows, so that the picture stays readable.
  const MAX_ROW = 60;
  let y = 0;
  let width = 0;
  for (const row of rows) {
    for (const node of row) {
      const places = node.requires.map((id) => byId.get(id)).filter(Boolean).map((n) => n.order);
      node.key = places.length ? places.reduce((a, b) => a + b, 0) / places.length : node.order;
    }
    row.sort((a, b) => a.key - b.key || (a.id < b.id ? -1 : 1));
    row.forEach((node, i) => {
      node.order = i;
      node.x = (i % MAX_ROW) * (NODE_W + 20) + NODE_W / 2;
      node.y = y + Math.floor(i / MAX_ROW) * (NODE_H + 14) + NODE_H / 2;
      width = Math.max(width, node.x + NODE_W / 2);
    });
    y += (Math.ceil(row.length / MAX_ROW) || 1) * (NODE_H + 14) + 40;
  }
  return { nodes, byId, layers, width, height: y };
}


// Draws `layout` on `canvas`, coloured by `states` (a Map of resource id to state, which the
// caller may change and then repaint); a click on a resource calls `open` with its id.
export function drawGraph(canvas, layout, states, open) {
  const view = { x: 0, y: 0, scale: 1 };
  const fit = () => {
    const width = canvas.clientWidth, height = canvas.clientHeight;
    view.scale = Math.min(2, width / (layout.width + 40), height / (layout.height + 40));
    view.x = (width - layout.width * view.scale) / 2;
    view.y = 20 * view.scale;
  };
  const paint = () => {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (canvas.width !== width * ratio || canvas.height !== height * ratio) {
      canvas.width = width * ratio;
      canvas.height = height * ratio;
    }
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    g.translate(view.x, view.y);
    g.scale(view.scale, view.scale);
    g.strokeStyle = "rgba(100,116,139,0.35)";
    g.lineWidth = 1 / view.scale;
    g.beginPath();
    for (const node of layout.nodes) {
      for (const required of node.requires) {
        const other = layout.byId.get(required);
        if (!other) continue;
        g.moveTo(other.x, other.y + NODE_H / 2);
        g.lineTo(node.x, node.y - NODE_H / 2);
      }
    }
    g.stroke();
    const labels = view.scale > 0.45;
    g.font = "11px ui-monospace, monospace";
    g.textBaseline = "middle";
    for (const node of layout.nodes) {
      g.fillStyle = STATE_COLOURS[states.get(node.id)] || "#9ca3af";
      g.fillRect(node.x - NODE_W / 2, node.y - NODE_H / 2, NODE_W, NODE_H);
      if (labels) {
        g.fillStyle = "#fff";
        g.fillText(node.label, node.x - NODE_W / 2 + 4, node.y, NODE_W - 8);
      }
    }
  };
  let frame = null;
  const repaint = () => { if (!frame) frame = requestAnimationFrame(() => { frame = null; paint(); }); };
  fit();
  paint();
  canvas.dataset.painted = "true";
  let drag = null;
  canvas.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY, moved: false }; canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    view.x += dx; view.y += dy; drag.x = e.clientX; drag.y = e.clientY;
    repaint();
  });
  canvas.addEventListener("pointerup", (e) => {
    const wasDrag = drag && drag.moved;
    drag = null;
    if (wasDrag) return;
    const rect = canvas.getBoundingClientRect();
    const x = (e.clientX - rect.left - view.x) / view.scale, y = (e.clientY - rect.top - view.y) / view.scale;
    const hit = layout.nodes.find((n) => Math.abs(n.x - x) <= NODE_W / 2 && Math.abs(n.y - y) <= NODE_H / 2);
    if (hit) open(hit.id);
  });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const rect = canvas.getBoundingClientRect();
    const factor = Math.exp(-e.deltaY * 0.0015);
    const mx = e.clientX - rect.left, my = e.clientY - rect.top;
    view.x = mx - (mx - view.x) * factor;
    view.y = my - (my - view.y) * factor;
    view.scale *= factor;
    repaint();
  }, { passive: false });
  window.addEventListener("resize", repaint);
  // For tests: where a resource is drawn, in page coordinates.
  canvas.locate = (id) => {
    const node = layout.byId.get(id);
    if (!node) return null;
    const rect = canvas.getBoundingClientRect();
    return { x: rect.left + view.x + node.x * view.scale, y: rect.top + view.y + node.y * view.scale };
  };
  return { repaint, dispose: () => window.removeEventListener("resize", repaint) };
}
