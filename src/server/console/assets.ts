// The console's own style sheet and script, served by the adapter (no CDN, no web font: hospital
// networks are closed). The script only enhances: every page works without it.

export const CONSOLE_CSS = `
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--head:#0b3d66;--accent:#0969da;--bad:#b42318;--good:#1a7f37;--soft:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;align-items:center;gap:1.5rem;background:var(--head);color:#fff;padding:.5rem 1rem;flex-wrap:wrap}
header .brand{font-weight:700;letter-spacing:.02em}
header .profile{padding:.15rem .5rem;border-radius:4px;background:#fff2;font-size:.9em}
header .profile-test{background:#fde68a;color:#4a3500}
header nav{display:flex;gap:.25rem;flex-wrap:wrap}
header nav a{color:#dbe9f7;text-decoration:none;padding:.3rem .6rem;border-radius:4px}
header nav a[aria-current=page]{background:#fff;color:var(--head);font-weight:600}
header nav a:hover{background:#ffffff22}
header .logout{margin-left:auto;display:flex;gap:.5rem;align-items:center}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:#fff;padding:.3rem;z-index:9}
main{padding:1rem 1.5rem;max-width:1400px}
h1{font-size:1.4rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.4rem 0 .5rem}h3{font-size:1rem;margin:1rem 0 .4rem}
a{color:var(--accent)}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
table{border-collapse:collapse;width:100%;margin:.3rem 0 1rem;font-size:13px}
th,td{border:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}
thead th{background:var(--soft);position:sticky;top:0}
caption{text-align:left;font-weight:600;padding:.2rem 0}
code,pre,textarea{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
pre{background:var(--soft);border:1px solid var(--line);padding:.6rem;overflow:auto;max-height:32rem}
textarea{width:100%;border:1px solid var(--line);padding:.4rem}
form.bench label{display:block;margin:.5rem 0 .2rem}#bench-draft{width:100%;margin-bottom:.6rem;font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}#resubmit p{margin:0;flex-basis:100%}
button{font:inherit;padding:.35rem .8rem;border:1px solid var(--accent);background:var(--accent);color:#fff;border-radius:4px;cursor:pointer}
button:hover{filter:brightness(1.1)}
header button{background:transparent;border-color:#dbe9f7}
input,select{font:inherit;padding:.25rem .4rem;border:1px solid var(--line);border-radius:3px}
form.search{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;margin-bottom:.8rem;background:var(--soft);padding:.6rem;border:1px solid var(--line)}
form.search label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
.actions{display:flex;gap:.6rem;margin:.6rem 0}
.bad{color:var(--bad)}.good{color:var(--good)}.empty{color:var(--muted);font-style:italic}
.big{font-size:1.1rem}
.result{border-left:4px solid var(--accent);background:#eef6ff;padding:.5rem .8rem;margin:.6rem 0}
.result.bad{border-color:var(--bad);background:#fdecea}
.st{display:inline-block;padding:0 .4rem;border-radius:8px;font-size:12px;background:#eaeef2}
.st-error,.st-rejected,.st-invalid{background:#fdecea;color:var(--bad)}
.st-applied,.st-accepted,.st-ready{background:#e6f4ea;color:var(--good)}
.st-pending,.st-incomplete,.st-needs-review{background:#fff4e5;color:#9a6700}
.guess{display:inline-block;padding:0 .4rem;border:1px dashed #9a6700;border-radius:8px;font-size:12px;color:#9a6700}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.4rem 0 1rem}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
table.er7 th{width:5rem;background:var(--soft)}
table.er7 .f{display:inline-block;margin:0 .6rem .2rem 0;white-space:nowrap}
table.er7 .pos{color:var(--muted);font-size:11px;font-family:ui-monospace,"DejaVu Sans Mono",monospace}
table.er7 .v{font-family:ui-monospace,"DejaVu Sans Mono",monospace}
table.er7 tr.broken th,table.er7 tr.broken td{background:#fdecea;color:var(--bad)}table.er7 tr.broken p{margin:0 0 .3rem}table.er7 tr.broken code{white-space:pre-wrap;color:var(--fg)}
#edit-text{min-height:16rem}
.side{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
.side>section{min-width:0}
.side table{display:block;overflow-x:auto}
td{overflow-wrap:break-word}
.login{max-width:26rem;margin:3rem auto;border:1px solid var(--line);padding:1.2rem;border-radius:6px}
.login label{display:block;margin:.4rem 0}.login input{width:100%}
code.stub{white-space:pre}
small{color:var(--muted)}
form.search label.check{flex-direction:row;gap:.3rem;align-items:center;color:var(--fg);font-size:13px}
progress{width:6rem;vertical-align:middle}
ul.fields{margin:0;padding-left:1rem}
svg.day-chart{display:block;max-width:100%;height:auto;margin:.3rem 0}
svg.day-chart a:focus{outline:2px solid var(--accent);outline-offset:1px}svg.day-chart a:hover rect,svg.day-chart a:focus rect{stroke:var(--accent);stroke-width:1.5}
`;

export const CONSOLE_JS = `
// a running reprocessing run's page reloads itself until the run ends (without the script the
// page says so and links to itself)
var refresh = document.querySelector('[data-refresh]');
if (refresh) setTimeout(function () { location.reload(); }, Number(refresh.getAttribute('data-refresh')) * 1000);
// copy buttons for the worklist's CSV rows; select-all for the message list
document.addEventListener('click', function (e) {
  var t = e.target;
  if (!(t instanceof HTMLElement)) return;
  var id = t.getAttribute('data-copy');
  if (id) {
    var area = document.getElementById(id);
    if (area && 'select' in area) {
      area.select();
      var button = t;
      // without clipboard access (plain HTTP) the rows stay selected: Ctrl+C copies them
      if (navigator.clipboard) navigator.clipboard.writeText(area.value).then(function () { button.textContent = 'Copied'; }, function () {});
    }
  }
});
`;
