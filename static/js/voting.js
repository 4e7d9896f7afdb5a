// Ballot form enhancement: once the maximum number of candidates is ticked, the other
// checkboxes are disabled. The server enforces the same rule without JavaScript.
(function () {
  "use strict";
  document.querySelectorAll("form[data-max-choices]").forEach(function (form) {
    var max = parseInt(form.getAttribute("data-max-choices"), 10);
    var boxes = form.querySelectorAll('input[type="checkbox"][name="candidate_id"]');
    if (!boxes.length || !max) {
      return;
    }
    function update() {
      var ticked = 0;
      boxes.forEach(function (b) { if (b.checked) { ticked += 1; } });
      boxes.forEach(function (b) { b.disabled = !b.checked && ticked >= max; });
    }
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    update();
  });
})();
