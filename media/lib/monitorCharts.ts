/**
 * The monitor's charts: uPlot (bundled into the page by esbuild; nothing is loaded from the network)
 * drawing what monitorFormat.ts computed. One ChartView per chart card; it re-creates its plot when
 * its lines or the theme change and otherwise only swaps the data (cheap: a few hundred points per
 * line, every sample interval). Colours come from VS Code's theme (`--vscode-charts-*`), so the
 * charts follow light, dark and high-contrast themes.
 */
import uPlot from 'uplot';
import type { ChartData, ChartDef } from './monitorFormat';
import { formatValue } from './monitorFormat';

export interface Theme {
  key: string;
  foreground: string;
  muted: string;
  grid: string;
  background: string;
  palette: string[];
  warning: string;
  error: string;
  font: string;
}

const cssVar = (style: CSSStyleDeclaration, name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;

export function readTheme(): Theme {
  const s = getComputedStyle(document.body);
  return {
    key: document.body.className,
    foreground: cssVar(s, '--vscode-foreground', '#cccccc'),
    muted: cssVar(s, '--vscode-descriptionForeground', '#999999'),
    grid: cssVar(s, '--vscode-charts-lines', cssVar(s, '--vscode-panel-border', 'rgba(128,128,128,0.35)')),
    background: cssVar(s, '--vscode-editor-background', '#1e1e1e'),
    palette: [
      cssVar(s, '--vscode-charts-blue', '#3794ff'),
      cssVar(s, '--vscode-charts-orange', '#d18616'),
      cssVar(s, '--vscode-charts-purple', '#b180d7'),
      cssVar(s, '--vscode-charts-green', '#89d185'),
      cssVar(s, '--vscode-charts-yellow', '#cca700'),
      cssVar(s, '--vscode-charts-red', '#f14c4c'),
    ],
    warning: cssVar(s, '--vscode-editorWarning-foreground', '#cca700'),
    error: cssVar(s, '--vscode-editorError-foreground', '#f14c4c'),
    font: `${cssVar(s, '--vscode-font-size', '12px')} ${cssVar(s, '--vscode-font-family', 'sans-serif')}`,
  };
}

/** A threshold far above the data would flatten it: it is drawn only within 3× the highest value. */
export function thresholdInRange(threshold: number, dataMax: number | null | undefined): boolean {
  return !dataMax || dataMax <= 0 ? threshold <= 100 : threshold <= dataMax * 3;
}

/** Indices of the samples of a series with no measured neighbour (uPlot draws all points for null). */
function isolatedPoints(u: uPlot, seriesIdx: number): number[] {
  const ys = u.data[seriesIdx] as (number | null | undefined)[];
  const out: number[] = [];
  for (let i = 0; i < ys.length; i++) {
    if (ys[i] == null) continue;
    if (ys[i - 1] == null && ys[i + 1] == null) out.push(i);
  }
  return out;
}

const DASHES: number[][] = [[], [6, 3], [2, 3], [10, 3, 2, 3], [1, 2]];

/** A line's colour: by series for one source; by source (its role, e.g. blue/green) for several. */
export function lineColour(theme: Theme, data: ChartData, i: number): string {
  const line = data.lines[i]!;
  const sources = new Set(data.lines.map((l) => l.source)).size;
  if (sources <= 1) return theme.palette[line.seriesIndex % theme.palette.length]!;
  if (line.role === 'blue') return theme.palette[0]!;
  if (line.role === 'green') return theme.palette[3]!;
  // Next to a deployment's colours, another source (the local engine) takes neither blue nor green.
  const others = data.lines.some((l) => l.role === 'blue' || l.role === 'green')
    ? theme.palette.filter((_, k) => k !== 0 && k !== 3)
    : theme.palette;
  return others[line.sourceIndex % others.length]!;
}

function lineDash(data: ChartData, i: number): number[] | undefined {
  const line = data.lines[i]!;
  if (line.dashed) return [6, 4];
  const sources = new Set(data.lines.map((l) => l.source)).size;
  if (sources <= 1) return undefined;
  return DASHES[line.seriesIndex % DASHES.length];
}

export class ChartView {
  readonly plotBox: HTMLElement;
  private plot: uPlot | undefined;
  private signature = '';
  private data: ChartData | undefined;

  constructor(
    readonly def: ChartDef,
    readonly card: HTMLElement,
  ) {
    this.plotBox = card.querySelector<HTMLElement>('.plot')!;
  }

  /** The plot's canvas (for the PNG export), once drawn. */
  get canvas(): HTMLCanvasElement | undefined {
    return this.plot?.ctx.canvas;
  }

  get current(): ChartData | undefined {
    return this.data;
  }

  render(data: ChartData, theme: Theme): void {
    this.data = data;
    const signature = `${theme.key}|${data.lines.map((l) => `${l.source}:${l.metric}:${l.label}`).join(',')}|${data.threshold?.value ?? ''}`;
    const columns: uPlot.AlignedData = [data.xs, ...data.ys] as unknown as uPlot.AlignedData;
    if (data.unavailable) {
      this.destroy();
      return;
    }
    if (this.plot && signature === this.signature) {
      this.plot.setData(columns);
      return;
    }
    this.destroy();
    this.signature = signature;
    this.plot = new uPlot(this.options(data, theme), columns, this.plotBox);
  }

  resize(): void {
    if (this.plot) this.plot.setSize({ width: this.width(), height: this.height() });
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = undefined;
    this.signature = '';
  }

  private width(): number {
    return Math.max(200, Math.floor(this.plotBox.clientWidth || this.card.clientWidth || 400));
  }

  private height(): number {
    return 170;
  }

  private options(data: ChartData, theme: Theme): uPlot.Options {
    const unit = this.def.unit;
    const threshold = data.threshold;
    const axis = (size?: number): uPlot.Axis => ({
      stroke: theme.muted,
      font: theme.font,
      grid: { stroke: theme.grid, width: 1 },
      ticks: { stroke: theme.grid, width: 1 },
      ...(size ? { size } : {}),
    });
    return {
      width: this.width(),
      height: this.height(),
      // Timestamps are milliseconds since the epoch.
      ms: 1,
      cursor: { drag: { x: false, y: false } },
      legend: { show: true },
      scales: {
        x: { time: true },
        y: {
          // From 0; the threshold is in range when it is near the data (else it is named, off scale).
          range: (_u, _min, max) => {
            const top = Math.max(max ?? 0, threshold && thresholdInRange(threshold.value, max) ? threshold.value : 0);
            return [0, top > 0 ? top * 1.12 : 1];
          },
        },
      },
      axes: [axis(), { ...axis(84), values: (_u, ticks) => ticks.map((v) => formatValue(v, unit)) }],
      series: [
        {},
        ...data.lines.map((line, i) => ({
          label: line.label,
          stroke: lineColour(theme, data, i),
          width: 1.5,
          dash: lineDash(data, i),
          spanGaps: false,
          // Lines only join neighbouring samples: a sample between two gaps (one burst of typing)
          // would be invisible, so those are drawn as dots.
          points: { show: true, size: 5, fill: lineColour(theme, data, i), filter: isolatedPoints },
          value: (_u: uPlot, v: number | null) => formatValue(v, unit),
        })),
      ],
      hooks: {
        draw: [
          (u: uPlot) => {
            if (!threshold) return;
            const ctx = u.ctx;
            const colour = threshold.severity === 'critical' ? theme.error : theme.warning;
            const top = u.scales.y?.max ?? 0;
            if (threshold.value > top) {
              ctx.save();
              ctx.fillStyle = colour;
              ctx.font = `${11 * devicePixelRatio}px sans-serif`;
              ctx.textAlign = 'right';
              ctx.fillText(
                `alert above ${formatValue(threshold.value, unit)} (off the scale)`,
                u.bbox.left + u.bbox.width - 4,
                u.bbox.top + 12 * devicePixelRatio,
              );
              ctx.restore();
              return;
            }
            const y = Math.round(u.valToPos(threshold.value, 'y', true));
            ctx.save();
            ctx.strokeStyle = colour;
            ctx.fillStyle = colour;
            ctx.lineWidth = Math.max(1, devicePixelRatio);
            ctx.setLineDash([8 * devicePixelRatio, 4 * devicePixelRatio]);
            ctx.beginPath();
            ctx.moveTo(u.bbox.left, y);
            ctx.lineTo(u.bbox.left + u.bbox.width, y);
            ctx.stroke();
            ctx.font = `${11 * devicePixelRatio}px sans-serif`;
            ctx.textAlign = 'right';
            ctx.fillText(`alert above ${formatValue(threshold.value, unit)}`, u.bbox.left + u.bbox.width - 4, y - 4 * devicePixelRatio);
            ctx.restore();
          },
        ],
      },
    };
  }
}

/**
 * One PNG of every chart drawn so far, two per row, each with its title and legend, on the theme's
 * background. Returns a data URL.
 */
export function composePng(views: ChartView[], theme: Theme, title: string): string {
  const drawn = views.filter((v) => v.canvas && v.current);
  const ratio = devicePixelRatio || 1;
  const cellW = 620 * ratio;
  const plotH = 190 * ratio;
  const titleH = 26 * ratio;
  const legendH = 22 * ratio;
  const cellH = titleH + plotH + legendH;
  const pad = 16 * ratio;
  const cols = 2;
  const rows = Math.max(1, Math.ceil(drawn.length / cols));
  const headH = 40 * ratio;
  const out = document.createElement('canvas');
  out.width = cols * cellW + (cols + 1) * pad;
  out.height = headH + rows * (cellH + pad) + pad;
  const ctx = out.getContext('2d');
  if (!ctx) throw new Error('the page cannot draw (no 2D canvas)');
  ctx.fillStyle = theme.background;
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.fillStyle = theme.foreground;
  ctx.font = `600 ${16 * ratio}px sans-serif`;
  ctx.textBaseline = 'middle';
  ctx.fillText(title, pad, headH / 2);
  drawn.forEach((view, i) => {
    const x = pad + (i % cols) * (cellW + pad);
    const y = headH + Math.floor(i / cols) * (cellH + pad);
    const data = view.current!;
    ctx.fillStyle = theme.foreground;
    ctx.font = `600 ${13 * ratio}px sans-serif`;
    const current = data.current === null ? '' : `  ${formatValue(data.current, view.def.unit)}`;
    ctx.fillText(`${view.def.title}${current}`, x, y + titleH / 2);
    const src = view.canvas!;
    const scale = Math.min(cellW / src.width, plotH / src.height);
    ctx.drawImage(src, x, y + titleH, src.width * scale, src.height * scale);
    let lx = x;
    ctx.font = `${11 * ratio}px sans-serif`;
    data.lines.forEach((line, li) => {
      ctx.fillStyle = lineColour(theme, data, li);
      ctx.fillRect(lx, y + titleH + plotH + legendH / 2 - 2 * ratio, 14 * ratio, 4 * ratio);
      lx += 18 * ratio;
      ctx.fillStyle = theme.muted;
      ctx.fillText(line.label, lx, y + titleH + plotH + legendH / 2);
      lx += ctx.measureText(line.label).width + 14 * ratio;
    });
  });
  return out.toDataURL('image/png');
}
