// Move focus to the error summary (the page works without it: `autofocus`, and the links).
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.getElementById("erreurs");
  if (summary) { summary.focus(); }
});
