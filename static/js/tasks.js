// The task pages' small enhancements; without them the pages work the same, plainer.
// - The GC form shows only the chosen target's filters (the others are disabled, so
//   they are not sent either). Without JavaScript every filter shows, each naming the
//   targets that take it.
// - A form with data-confirm asks before it is sent (cancelling a task), and so does
//   a scheduled GC with no filter at all.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function showTargetFields(form) {
    var select = form.querySelector("[data-gc-target]");
    if (!select) return;
    form.querySelectorAll("[data-targets]").forEach(function (field) {
      var on = field.getAttribute("data-targets").split(" ").indexOf(select.value) !== -1;
      field.hidden = !on;
      field.querySelectorAll("input, select, textarea").forEach(function (input) {
        input.disabled = !on;
      });
    });
  }

  function setUp(root) {
    if (root.matches && root.matches("form[data-gc-form]")) showTargetFields(root);
    if (root.querySelectorAll) root.querySelectorAll("form[data-gc-form]").forEach(showTargetFields);
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("[data-gc-target]")) showTargetFields(target.form);
  });

  // A GC without any filter removes every object of its target: ask first (not for
  // a preview, which removes nothing). The launch form is not asked here: the server
  // answers it with a confirmation that states the count (data-server-confirms).
  function unfilteredGcQuestion(form, submitter) {
    if (!form.matches("form[data-gc-form]") || form.hasAttribute("data-server-confirms")) return null;
    if (submitter && submitter.name === "content.dry_run") return null;
    var target = form.querySelector("[data-gc-target]").value;
    var filters = form.querySelectorAll("[data-targets] input:not([type=checkbox]):not(:disabled)");
    for (var i = 0; i < filters.length; i++) {
      if (filters[i].value.trim() !== "") return null;
    }
    var verb = form.getAttribute("data-gc-verb") || "Run";
    return target === "face_descriptors" ? null
      : "No filter is set: every object of " + target + " will be removed. " + verb + " anyway?";
  }

  // Capture phase: decide before htmx (or the browser) sends the form.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm") || unfilteredGcQuestion(form, event.submitter);
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Forms swapped in by htmx (a form in error) are set up again.
  document.addEventListener("htmx:load", function (event) { setUp(event.detail.elt); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  } else {
    setUp(document);
  }
})();
