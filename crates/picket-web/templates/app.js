// Small progressive enhancement: confirm before blocking or unblocking, and refresh the
// overview every minute. Every page works without it.
document.documentElement.classList.add("js");
document.addEventListener("submit", function (e) {
  var msg = e.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) { e.preventDefault(); }
});
if (document.body.getAttribute("data-refresh")) {
  setTimeout(function () { window.location.reload(); }, 60000);
}
