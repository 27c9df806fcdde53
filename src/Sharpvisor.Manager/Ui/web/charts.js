// Charts of the history endpoints' samples, drawn by uPlot (vendored from npm like xterm.js; window.uPlot).
// Colours are CSS variables read when uPlot draws, so a theme change is a redraw, not a rebuild. Each figure carries
// data-points (the samples drawn), which the UI tests read, and says the latest value in words beside its title, for
// screen readers and for anyone who wants the number rather than the line.
import { themeEvent } from "./theme.js";

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const colour = (name) => () => css(name);
// The chart variables are #rrggbb: two more hex digits make the pale fill under a line.
const wash = (name) => () => `${css(name)}26`;
const plotHeight = 160;

/** Non-null values of one series: what "has data" means for a chart. */
const counted = (values) => values.filter((v) => v != null).length;

/**
 * A time chart in `figure`: `series` is [{ label, colour: "--chart-1" }], `format` turns a value into words (the
 * caption), `axis` a tick of the y axis (default: format), `max` (a number or a function of the data's largest value)
 * the least top of the y axis.
 */
export class TimeChart {
  constructor(figure, { title, series, format, axis: tick = format, max }) {
    this.figure = figure;
    this.series = series;
    this.format = format;
    const caption = document.createElement("figcaption");
    this.now = document.createElement("span");
    this.now.className = "now";
    caption.append(title, this.now);
    this.plotBox = document.createElement("div");
    this.plotBox.className = "plot";
    this.plotBox.setAttribute("aria-hidden", "true"); // the caption says it in words
    figure.replaceChildren(caption, this.plotBox);
    figure.dataset.points = "0";
    const top = typeof max === "function" ? max : () => max;
    this.plot = new window.uPlot({
      width: Math.max(figure.clientWidth - 20, 100),
      height: plotHeight,
      legend: { show: false },
      // Dragging would zoom, which the next refresh would undo: the cursor only points.
      cursor: { drag: { x: false, y: false, setScale: false } },
      scales: { y: { range: (u, dataMin, dataMax) => [0, Math.max(top(dataMax) ?? 0, dataMax * 1.1, 1)] } },
      axes: [axis(), { ...axis(), size: 70, values: (u, ticks) => ticks.map(tick) }],
      series: [{}, ...series.map((s) => ({
        label: s.label, stroke: colour(s.colour), fill: series.length === 1 ? wash(s.colour) : undefined, width: 2, spanGaps: false,
        points: { show: false },
      }))],
    }, [[], ...series.map(() => [])], this.plotBox);
    // Follows its figure's width (a phone turned, a window resized); the height stays.
    this.resize = new ResizeObserver(() => this.plot.setSize({ width: Math.max(figure.clientWidth - 20, 100), height: plotHeight }));
    this.resize.observe(figure);
    this.redraw = () => this.plot.redraw(false);
    window.addEventListener(themeEvent, this.redraw);
  }

  /** `times` in Unix milliseconds, `values` one array per series, null where a sample has no number. */
  update(times, values) {
    this.plot.setData([times.map((t) => t / 1000), ...values]);
    this.figure.dataset.points = String(counted(values[0] ?? []));
    const latest = values.map((v) => [...v].reverse().find((x) => x != null));
    this.now.textContent = latest.every((v) => v == null)
      ? "no samples yet"
      : this.series.map((s, i) => (this.series.length > 1 ? `${s.label} ${this.format(latest[i])}` : this.format(latest[i]))).join(", ");
  }

  destroy() {
    this.resize.disconnect();
    window.removeEventListener(themeEvent, this.redraw);
    this.plot.destroy();
  }
}

/**
 * A 120x28 line of a VM's recent CPU use for a row of the VM list (no axes, no cursor), and its latest value beside it.
 * The y axis reaches at least 5 % so an idle VM's line is not magnified noise.
 */
export class Sparkline {
  constructor(label) {
    this.element = document.createElement("span");
    this.element.className = "spark-cell";
    this.box = document.createElement("span");
    this.box.className = "spark";
    this.box.setAttribute("role", "img");
    this.box.dataset.points = "0";
    this.value = document.createElement("span");
    this.value.className = "spark-value";
    this.value.setAttribute("aria-hidden", "true"); // the line's label says it
    this.element.append(this.box, this.value);
    this.label = label;
    this.box.setAttribute("aria-label", `${label}: no samples yet`);
    this.plot = new window.uPlot({
      width: 120, height: 28, legend: { show: false }, cursor: { show: false }, select: { show: false },
      axes: [{ show: false }, { show: false }],
      scales: { x: { time: false }, y: { range: (u, dataMin, dataMax) => [0, Math.max(5, dataMax * 1.15)] } },
      series: [{}, { stroke: colour("--chart-1"), fill: wash("--chart-1"), width: 1.5, points: { show: false } }],
    }, [[], []], this.box);
    this.redraw = () => this.plot.redraw(false);
    window.addEventListener(themeEvent, this.redraw);
  }

  update(times, values, describe) {
    this.plot.setData([times.map((t) => t / 1000), values]);
    this.box.dataset.points = String(counted(values));
    const latest = [...values].reverse().find((v) => v != null);
    this.box.setAttribute("aria-label", latest == null ? `${this.label}: no samples yet` : `${this.label}: ${describe(latest)} now`);
    this.box.title = this.box.getAttribute("aria-label");
    this.value.textContent = latest == null ? "" : describe(latest);
  }

  destroy() {
    window.removeEventListener(themeEvent, this.redraw);
    this.plot.destroy();
  }
}

function axis() {
  return {
    stroke: colour("--muted"),
    grid: { stroke: colour("--chart-grid"), width: 1 },
    ticks: { stroke: colour("--chart-grid"), width: 1 },
  };
}
