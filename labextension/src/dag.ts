/**
 * A small SVG drawing of one cell's operation DAG.
 *
 * Steps reference their inputs by artifact id. Inputs produced by earlier
 * cells are drawn as grey "input" nodes. Layers go top to bottom: a node sits
 * one layer below its deepest input.
 */
import { IStep, StepStatus } from './protocol';
import { shortOp } from './format';

const SVG_NS = 'http://www.w3.org/2000/svg';
const NODE_W = 104;
const NODE_H = 26;
const GAP_X = 12;
const GAP_Y = 26;
const PAD = 6;
const MAX_LABEL = 15;

/** A node of the drawing: a step of the cell or an outside input. */
export interface IDagNode {
  id: string;
  label: string;
  title: string;
  status: StepStatus | 'input';
  layer: number;
  index: number;
}

/** The computed layout, separate from the drawing so it can be tested. */
export interface IDagLayout {
  nodes: IDagNode[];
  edges: Array<{ from: string; to: string }>;
  width: number;
  height: number;
}

/** Place the steps of a cell in layers. */
export function layoutDag(steps: ReadonlyArray<IStep>): IDagLayout {
  // Steps without an artifact id (not identifiable) still get a node of their own.
  const byId = new Map<string, IStep>();
  steps.forEach((step, i) => {
    byId.set(step.id ?? `#step-${i}`, step);
  });
  const layers = new Map<string, number>();
  const visiting = new Set<string>();
  const layerOf = (id: string): number => {
    const known = layers.get(id);
    if (known !== undefined) {
      return known;
    }
    const step = byId.get(id);
    if (!step || visiting.has(id)) {
      // An outside input, or a cycle (which a DAG never has): top layer.
      layers.set(id, 0);
      return 0;
    }
    visiting.add(id);
    let layer = 0;
    for (const input of step.inputs) {
      layer = Math.max(layer, layerOf(input) + 1);
    }
    visiting.delete(id);
    layers.set(id, layer);
    return layer;
  };

  // Steps first (their layers follow their inputs); an outside input sits one
  // layer above the first step that uses it, so its edge stays short.
  for (const id of byId.keys()) {
    layerOf(id);
  }
  const outside = new Map<string, number>();
  const edges: Array<{ from: string; to: string }> = [];
  for (const [id, step] of byId) {
    for (const input of step.inputs) {
      edges.push({ from: input, to: id });
      if (!byId.has(input)) {
        const above = Math.max(0, layerOf(id) - 1);
        outside.set(input, Math.min(outside.get(input) ?? above, above));
      }
    }
  }
  for (const [id, layer] of outside) {
    layers.set(id, layer);
  }

  const nodes: IDagNode[] = [];
  const rowSizes: number[] = [];
  const place = (id: string, node: Omit<IDagNode, 'layer' | 'index'>) => {
    const layer = layers.get(id) ?? 0;
    const index = rowSizes[layer] ?? 0;
    rowSizes[layer] = index + 1;
    nodes.push({ ...node, layer, index });
  };
  for (const id of outside.keys()) {
    place(id, {
      id,
      label: 'input',
      title: `input from an earlier cell\n${id}`,
      status: 'input'
    });
  }
  for (const [id, step] of byId) {
    const op = shortOp(step.op);
    const label = op.length > MAX_LABEL ? `${op.slice(0, MAX_LABEL - 1)}…` : op;
    const reason = step.reason ? `\n${step.reason}` : '';
    place(id, {
      id,
      label,
      title: `${step.op}: ${step.status.replace('_', ' ')}${reason}\n${step.id ?? 'no artifact id'}`,
      status: step.status
    });
  }

  const columns = Math.max(1, ...rowSizes.map(n => n ?? 0));
  const rows = Math.max(1, rowSizes.length);
  return {
    nodes,
    edges,
    width: PAD * 2 + columns * NODE_W + (columns - 1) * GAP_X,
    height: PAD * 2 + rows * NODE_H + (rows - 1) * GAP_Y
  };
}

function el<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, String(value));
  }
  return node;
}

/** Draw the DAG of a cell's steps as an SVG element. */
export function renderDag(steps: ReadonlyArray<IStep>): SVGSVGElement {
  const layout = layoutDag(steps);
  const svg = el('svg', {
    class: 'jp-CollabReuse-dag',
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    width: layout.width,
    role: 'img',
    'aria-label': 'Operation graph of the cell'
  });
  svg.style.maxWidth = '100%';
  svg.style.height = 'auto';

  const defs = el('defs', {});
  const marker = el('marker', {
    id: 'jp-CollabReuse-arrow',
    viewBox: '0 0 8 8',
    refX: 8,
    refY: 4,
    markerWidth: 6,
    markerHeight: 6,
    orient: 'auto'
  });
  marker.appendChild(
    el('path', { d: 'M0,0 L8,4 L0,8 z', class: 'jp-CollabReuse-dagArrow' })
  );
  defs.appendChild(marker);
  svg.appendChild(defs);

  const pos = new Map<string, { x: number; y: number }>();
  for (const node of layout.nodes) {
    pos.set(node.id, {
      x: PAD + node.index * (NODE_W + GAP_X),
      y: PAD + node.layer * (NODE_H + GAP_Y)
    });
  }
  for (const edge of layout.edges) {
    const a = pos.get(edge.from);
    const b = pos.get(edge.to);
    if (!a || !b) {
      continue;
    }
    const x1 = a.x + NODE_W / 2;
    const y1 = a.y + NODE_H;
    const x2 = b.x + NODE_W / 2;
    const y2 = b.y;
    const mid = (y1 + y2) / 2;
    svg.appendChild(
      el('path', {
        d: `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`,
        class: 'jp-CollabReuse-dagEdge',
        'marker-end': 'url(#jp-CollabReuse-arrow)'
      })
    );
  }
  for (const node of layout.nodes) {
    const p = pos.get(node.id)!;
    const group = el('g', {
      class: `jp-CollabReuse-dagNode jp-CollabReuse-status-${node.status}`,
      'data-status': node.status,
      'data-artifact-id': node.id
    });
    const title = el('title', {});
    title.textContent = node.title;
    group.appendChild(title);
    group.appendChild(
      el('rect', { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 5 })
    );
    const text = el('text', {
      x: p.x + NODE_W / 2,
      y: p.y + NODE_H / 2,
      'text-anchor': 'middle',
      'dominant-baseline': 'central'
    });
    text.textContent = node.label;
    group.appendChild(text);
    svg.appendChild(group);
  }
  return svg;
}
