// The Tailor console's script: draws every chart of the page with uPlot from the JSON in
// its `data-chart` attribute, asks for confirmation before forms marked `data-confirm`,
// and keeps the segment editor's count and sample live. No inline script anywhere: the
// pages' Content Security Policy refuses it.
'use strict';

const palette = ['#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2', '#dc2626', '#4b5563'];

function sizeOf(el) {
  const width = Math.max(280, Math.floor(el.getBoundingClientRect().width || 600));
  return { width, height: Number(el.dataset.height || 220) };
}

/** A line or bar chart: x values (times in ms or indices), one series per line. */
function xyChart(el, spec) {
  const bars = spec.kind === 'bars';
  // Stacked bars: each series drawn as the running total, tallest first so the smaller
  // totals paint over it; side by side when there are two series on one scale.
  if (bars && spec.stacked) {
    let running = spec.x.map(() => 0);
    const stacked = spec.series.map((s) => {
      running = running.map((r, i) => r + (Number(s.values[i]) || 0));
      return { ...s, values: running.slice() };
    });
    spec = { ...spec, stacked: false, series: stacked.reverse() };
  }
  const sideBySide = bars && spec.series.length === 2 && !spec.series.some((s) => s.scale === 'y2');
  const time = !!spec.time;
  const xs = time ? spec.x.map((t) => t / 1000) : spec.x.map((_, i) => i);
  const series = [{ label: spec.xLabel || (time ? 'time' : ''), value: time ? undefined : (u, v) => spec.x[v] ?? '' }];
  spec.series.forEach((s, i) => {
    const bar = bars && !s.line;
    const color = s.color || palette[i % palette.length];
    series.push({
      label: s.label,
      stroke: color,
      fill: bar ? color + 'cc' : (s.fill ? color + '22' : undefined),
      width: bar ? 0 : 2,
      dash: s.dash,
      paths: bar ? uPlot.paths.bars(sideBySide ? { size: [0.35, 40], align: i === 0 ? -1 : 1 } : { size: [0.6, 60], align: 0 }) : undefined,
      points: { show: !bar && spec.x.length < 40 },
      scale: s.scale || 'y',
    });
  });
  const axes = [
    time ? {} : { values: (u, ticks) => ticks.map((t) => spec.x[t] ?? ''), space: 40, gap: 4 },
    { label: spec.yLabel || '', scale: 'y', size: 60 },
  ];
  const scales = { x: { time, range: time ? undefined : [-0.5, spec.x.length - 0.5] }, y: { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } };
  if (spec.series.some((s) => s.scale === 'y2')) {
    axes.push({ side: 1, scale: 'y2', label: spec.y2Label || '', grid: { show: false }, size: 60 });
    scales.y2 = { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] };
  }
  if (!time) {
    // One label per ~70 px, so long category names and 30 days stay readable.
    const every = Math.max(1, Math.ceil(spec.x.length / Math.max(1, sizeOf(el).width / 70)));
    axes[0].splits = () => spec.x.map((_, i) => i).filter((i) => i % every === 0);
  }
  const data = [xs, ...spec.series.map((s) => s.values)];
  return new uPlot({ ...sizeOf(el), series, axes, scales, legend: { show: true, live: false } }, data, el);
}

/** Estimates with their intervals, one row per item: a point and a whisker each. */
function intervalChart(el, spec) {
  const n = spec.items.length;
  const xs = spec.items.map((_, i) => i);
  const lo = spec.items.map((it) => it.low);
  const hi = spec.items.map((it) => it.high);
  const est = spec.items.map((it) => it.value);
  const whiskers = (u) => {
    const ctx = u.ctx;
    ctx.save();
    ctx.lineWidth = 2 * devicePixelRatio;
    for (let i = 0; i < n; i++) {
      if (lo[i] == null || hi[i] == null) continue;
      const x = u.valToPos(i, 'x', true);
      const y0 = u.valToPos(lo[i], 'y', true);
      const y1 = u.valToPos(hi[i], 'y', true);
      ctx.strokeStyle = spec.items[i].color || palette[0];
      ctx.beginPath();
      ctx.moveTo(x, y0); ctx.lineTo(x, y1);
      ctx.moveTo(x - 8, y0); ctx.lineTo(x + 8, y0);
      ctx.moveTo(x - 8, y1); ctx.lineTo(x + 8, y1);
      ctx.stroke();
    }
    if (spec.zero) {
      const y = u.valToPos(0, 'y', true);
      ctx.strokeStyle = '#9ca3af';
      ctx.setLineDash([4, 4]);
      ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
    }
    ctx.restore();
  };
  const all = [...lo, ...hi, ...est].filter((v) => v != null && Number.isFinite(v));
  const min = Math.min(0, ...all);
  const max = Math.max(0, ...all);
  const pad = (max - min) * 0.1 || 0.1;
  return new uPlot({
    ...sizeOf(el),
    series: [
      { label: 'variation', value: (u, v) => spec.items[v]?.label ?? '' },
      { label: spec.valueLabel || 'estimate', stroke: palette[0], width: 0, points: { show: true, size: 10, fill: palette[0] } },
      { label: 'low', show: false }, { label: 'high', show: false },
    ],
    axes: [{ values: (u, t) => t.map((i) => spec.items[i]?.label ?? ''), splits: () => xs }, { label: spec.yLabel || '', size: 70 }],
    scales: { x: { time: false, range: [-0.5, n - 0.5] }, y: { range: [min - pad, max + pad] } },
    hooks: { draw: [whiskers] },
    legend: { show: false },
  }, [xs, est, lo, hi], el);
}

function draw(el) {
  let spec;
  try { spec = JSON.parse(el.dataset.chart); } catch (e) { el.textContent = 'chart data unreadable'; return; }
  el.textContent = '';
  const empty = spec.kind === 'interval' ? spec.items.length === 0 : spec.x.length === 0;
  if (empty) { el.textContent = spec.empty || 'No data yet.'; el.classList.add('empty'); return; }
  const plot = spec.kind === 'interval' ? intervalChart(el, spec) : xyChart(el, spec);
  el.dataset.drawn = 'true';
  new ResizeObserver(() => plot.setSize(sizeOf(el))).observe(el);
}

function confirmations() {
  for (const form of document.querySelectorAll('form[data-confirm]')) {
    form.addEventListener('submit', (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  }
}

/** The segment editor: count and sample again when the condition changes (debounced). */
function liveSegment() {
  const editor = document.querySelector('[data-segment-editor]');
  if (!editor) return;
  const input = editor.querySelector('textarea[name=condition]');
  const out = document.querySelector('[data-segment-live]');
  let timer;
  const ask = async () => {
    const url = '/console/api/segments/match?condition=' + encodeURIComponent(input.value);
    const r = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    const body = await r.json();
    out.querySelector('[data-live-count]').textContent = r.ok
      ? `${body.matching.toLocaleString()} of ${body.total.toLocaleString()} people match now`
      : (body.error?.message || 'the condition is not valid');
    out.classList.toggle('invalid', !r.ok);
    const list = out.querySelector('[data-live-sample]');
    if (list) {
      list.replaceChildren();
      for (const p of (r.ok ? body.sample || [] : [])) {
        const li = document.createElement('li');
        const a = document.createElement('a');
        a.href = '/console/people/' + encodeURIComponent(p.id);
        a.textContent = [p.userId || p.anonymousId || p.id, p.email, p.lifecycleStage].filter(Boolean).join(' · ');
        li.append(a);
        list.append(li);
      }
    }
  };
  input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(ask, 300); });
}

function start() {
  for (const el of document.querySelectorAll('[data-chart]')) draw(el);
  confirmations();
  liveSegment();
  document.body.dataset.consoleReady = 'true';
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
