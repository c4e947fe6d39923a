"""The report's inline style sheet and script (no file or network fetched when the page opens).

The script links the three views of a point: hovering or clicking a circle of any front, or a row
of the table, highlights that point everywhere and shows which run it is; clicking scrolls to its
architecture picture; report.html#point-N opens with point N selected. It ends by setting
`data-ready` on <body>, which the browser test reads.
"""

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1320px; color: #222; padding: 0 1em; }
h1 { font-size: 1.4em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
h3.target { font-size: 1.05em; margin: 1.2em 0 .1em; } p.pick { margin: 0 0 .6em; }
.meta { color: #555; margin: 0; }
.legend span { display: inline-block; margin-right: 1.2em; }
.legend svg.key { vertical-align: -3px; margin-right: .35em; }
.fronts { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 1em; }
svg.front { background: #fff; border: 1px solid #ddd; width: 100%; height: auto; }
svg.front text { font-family: "DejaVu Sans", Verdana, "Bitstream Vera Sans", sans-serif; }
svg .frame { fill: none; stroke: #999; } svg .grid { stroke: #eee; }
svg .tick { font-size: 10px; fill: #555; } svg .axis { font-size: 11px; fill: #333; }
svg .line { fill: none; stroke-width: 1.6; opacity: .8; } svg .leader { stroke: #999; stroke-width: .7; }
svg .budget { stroke: #333; stroke-width: 1.2; stroke-dasharray: 5 3; } svg .over { fill: #000; opacity: .06; }
svg .limit { stroke: #777; stroke-width: 1.2; stroke-dasharray: 1.5 2.5; } svg .cap { font-size: 9px; fill: #333; }
svg .ring { fill: none; stroke: #000; stroke-width: 1.6; }
svg .pt { cursor: pointer; } svg .pt.off .mk { stroke-width: 1.3; } svg .pt.off text { fill: #888; }
svg .lbl { font-size: 10px; fill: #333; } svg .pt.pick text { font-weight: bold; fill: #000; }
svg .pt.sel .mk { stroke: #000; stroke-width: 2.5; } svg .pt.sel text { fill: #000; text-decoration: underline; }
div.wide { overflow-x: auto; max-height: 32em; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 3px 6px; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; position: sticky; top: 0; white-space: normal; vertical-align: bottom; line-height: 1.2; }
td.l, th.l { text-align: left; } table.points td:last-child { white-space: normal; min-width: 7em; }
tr.pick td { background: #eaf4e4; } .badge { font-size: 10px; background: #222; color: #fff; border-radius: 3px;
  padding: 0 4px; margin-left: .3em; }
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
