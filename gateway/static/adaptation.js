/* adaptation view: registered with window.Nauplius (app.js). jQuery only.
   A toolbar button opens the head of the project chosen in the project filter: its version, the
   labels it learned from, cross-validated top-1 plain -> adapted, whether it is in use, its past
   versions, and "Refit" for those who may (GET/POST /api/v1/projects/{id}/adaptation); for admins,
   "Fine-tune a model" queues a training run on the project's validated images
   (POST /api/v1/projects/{id}/train). */
$(function () {
  "use strict";
  var N = window.Nauplius;
  if (!N) { return; }

  var $dialog = $(
    '<div id="adaptation" class="overlay" hidden>' +
    '<div class="dialog wide" role="dialog" aria-labelledby="adaptation-title">' +
    '<h2 id="adaptation-title">Adaptation to the project\'s labels</h2>' +
    '<p class="meta">A head fitted on the project\'s validated labels (their stored vectors; nothing ' +
    'is re-embedded). Suggestions and similar search of the project use it once it beats the plain ' +
    'embedding in 5-fold cross-validation on those labels.</p>' +
    '<label>Project <select id="adaptation-project"></select></label>' +
    '<div id="adaptation-summary" class="adaptation-summary" aria-live="polite"></div>' +
    '<table class="grants"><thead><tr><th scope="col">Fitted</th><th scope="col">Labels</th>' +
    '<th scope="col">Classes</th><th scope="col">Top-1 plain &rarr; adapted</th><th scope="col">In use</th></tr></thead>' +
    '<tbody id="adaptation-versions"></tbody></table>' +
    '<p><button id="adaptation-refit" type="button" class="primary">Refit</button> ' +
    '<button id="adaptation-train" type="button" hidden title="Fine-tune the embedding CNN on the project\'s ' +
    'validated images: a job; the new model version is written to the worker\'s models folder">Fine-tune a model</button> ' +
    '<button id="adaptation-close" type="button">Close</button> <span id="adaptation-status" class="meta"></span></p>' +
    '</div></div>');
  $("body").append($dialog);
  var $button = $('<button id="show-adaptation" type="button" title="The project\'s adaptation head">Adaptation</button>');
  $("#views").append($button);

  function pct(x) { return (100 * x).toFixed(1) + " %"; }

  function isAdmin() { return !!(N.state.me && N.state.me.role === "admin"); }

  var shown = null;  // the project asked last: an older answer arriving late is dropped
  function show(projectId) {
    shown = projectId;
    if (!projectId) {
      $("#adaptation-summary").text("Choose a project.");
      $("#adaptation-versions").empty();
      $("#adaptation-refit").prop("hidden", true);
      $("#adaptation-train").prop("hidden", true);
      return;
    }
    N.api("GET", "/api/v1/projects/" + projectId + "/adaptation").done(function (s) {
      if (shown !== projectId) { return; }
      var a = s.active, text;
      if (a) {
        text = "In use: version " + a.version.slice(0, 12) + ", learned from " + a.labels +
          " labels of " + a.classes + " classes; cross-validated top-1 " + pct(a.cv_top1_plain) +
          " \u2192 " + pct(a.cv_top1_adapted) + ".";
      } else if (s.versions.length) {
        text = "Not in use: the last fit did not beat the plain embedding.";
      } else {
        text = "No head fitted yet.";
      }
      text += " " + s.validated + " validated labels now; the next refit is queued at " + s.next_refit_at + ".";
      if (s.pending_job) { text += " A refit is queued or running (job " + s.pending_job + ")."; }
      $("#adaptation-summary").text(text);
      var $rows = $("#adaptation-versions").empty();
      $.each(s.versions, function (_, v) {
        $rows.append($("<tr>").append(
          $("<td>").text(new Date(v.fitted_at).toLocaleString()),
          $("<td>").text(v.labels), $("<td>").text(v.classes),
          $("<td>").text(pct(v.cv_top1_plain) + " \u2192 " + pct(v.cv_top1_adapted)),
          $("<td>").text(v.active ? "yes" : "no")));
      });
      $("#adaptation-refit").prop("hidden", !s.can_refit).prop("disabled", !!s.pending_job);
      $("#adaptation-train").prop("hidden", !isAdmin());
    }).fail(function (xhr) { if (shown === projectId) { $("#adaptation-summary").text(N.errorText(xhr)); } });
  }

  function open() {
    $("#adaptation-status").text("");
    $dialog.prop("hidden", false);
    N.api("GET", "/api/v1/projects").done(function (result) {
      var $choice = $("#adaptation-project").empty();
      $.each(result.data, function (_, p) { $choice.append($("<option>").val(p.id).text(p.name)); });
      $choice.val($("#filter-project").val() || $choice.find("option:first").val());
      show($choice.val());
    });
  }

  $button.on("click", open);
  $("#adaptation-project").on("change", function () { show(this.value); });
  $("#adaptation-close").on("click", function () { $dialog.prop("hidden", true); });
  $dialog.on("click", function (event) { if (event.target === this) { $dialog.prop("hidden", true); } });
  $("#adaptation-refit").on("click", function () {
    var projectId = $("#adaptation-project").val();
    N.api("POST", "/api/v1/projects/" + projectId + "/adaptation/refit").done(function (r) {
      $("#adaptation-status").text(r.queued ? "Refit queued (job " + r.job_id + ")." :
        "A refit is already queued or running (job " + r.job_id + ").");
      N.pollJobs();
      show(projectId);
    }).fail(function (xhr) { $("#adaptation-status").text(N.errorText(xhr)); });
  });
  $("#adaptation-train").on("click", function () {
    var projectId = $("#adaptation-project").val();
    N.api("POST", "/api/v1/projects/" + projectId + "/train").done(function (job) {
      $("#adaptation-status").text("Fine-tuning queued (job " + job.id + "): the new model and its " +
        "card are written to the worker's models folder.");
      N.pollJobs();
    }).fail(function (xhr) { $("#adaptation-status").text(N.errorText(xhr)); });
  });
});
