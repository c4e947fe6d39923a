"""The report's inline style sheet and script (no file or network fetched when the page opens).

The script links the three views of a point: hovering or clicking a circle of any front, or a row
of the table, highlights that point everywhere and shows which run it is; clicking scrolls to its
architecture picture; report.html#point-N opens with point N selected. It ends by setting
`data-ready` on <body>, which the browser test reads.
"""

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1320px; color: #222; padding: 0 1em; }
h1 { font-size: 1.4em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.meta { color: #555; margin: 0; }
.legend span { display: inline-block; margin-right: 1.2em; }
.legend i { display: inline-block; width: .8em; height: .8em; border-radius: 50%; margin-right: .35em; }
.fronts { display: flex; flex-wrap: wrap; gap: 1em; }
svg.front { background: #fff; border: 1px solid #ddd; max-width: 100%; height: auto; }
svg .frame { fill: none; stroke: #999; } svg .grid { stroke: #eee; }
svg .tick { font-size: 11px; fill: #555; } svg .axis { font-size: 12px; fill: #333; }
svg .line { fill: none; stroke-width: 1.6; opacity: .8; }
svg .pt { cursor: pointer; } svg .pt.off circle { opacity: .35; } svg .pt.off text { fill: #999; }
svg .lbl { font-size: 10.5px; fill: #333; }
svg .pt.sel circle { stroke: #000; stroke-width: 2.5; opacity: 1; } svg .pt.sel text { font-weight: bold; fill: #000; }
div.wide { overflow-x: auto; max-height: 32em; }
table { border-collapse: collapse; font-size: 12.5px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; position: sticky; top: 0; } td.l, th.l { text-align: left; }
tr.sel td { background: #fff3c4; } tbody tr[data-i] { cursor: pointer; }
#tip { position: fixed; display: none; background: #222; color: #fff; padding: 4px 8px; border-radius: 4px;
       font-size: 12px; pointer-events: none; z-index: 9; }
#which { min-height: 1.4em; color: #333; font-weight: 600; }
.arch { margin: 1.2em 0; padding-top: .3em; } .arch.sel { outline: 3px solid #f0c000; }
.arch img { max-width: 100%; border: 1px solid #eee; } .arch h3 { font-size: 1em; margin: .3em 0; }
"""

JS = r"""
(function () {
  var tip = document.getElementById('tip'), which = document.getElementById('which');
  function all(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); }
  function info(i) { var row = document.querySelector('tr[data-i="' + i + '"]'); return row ? row.dataset.info : ''; }
  function select(i, scroll) {
    all('.sel').forEach(function (el) { el.classList.remove('sel'); });
    all('[data-i="' + i + '"]').forEach(function (el) { el.classList.add('sel'); });
    var arch = document.getElementById('run-' + i);
    if (arch) { arch.classList.add('sel'); if (scroll) { arch.scrollIntoView({behavior: 'smooth'}); } }
    which.textContent = info(i);
  }
  all('svg .pt').forEach(function (g) {
    g.addEventListener('mouseenter', function () {
      tip.textContent = info(g.dataset.i); tip.style.display = 'block'; select(g.dataset.i, false);
    });
    g.addEventListener('mousemove', function (e) {
      tip.style.left = (e.clientX + 14) + 'px'; tip.style.top = (e.clientY + 10) + 'px';
    });
    g.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
    g.addEventListener('click', function () { select(g.dataset.i, true); });
  });
  all('tbody tr[data-i]').forEach(function (tr) {
    tr.addEventListener('mouseenter', function () { select(tr.dataset.i, false); });
    tr.addEventListener('click', function (e) { if (e.target.tagName !== 'A') { select(tr.dataset.i, true); } });
  });
  var linked = /^#point-(\d+)$/.exec(location.hash);  // report.html#point-3 opens with point 3 selected
  if (linked) { select(linked[1], false); }
  document.body.dataset.ready = '1';
})();
"""
