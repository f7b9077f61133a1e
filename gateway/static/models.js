/* Models dialog: registered with window.Nauplius (app.js). jQuery only.
   The embedding model versions (GET /api/v1/models): which one search answers from, each other
   one's collection state, and a re-embed's progress as a counter, polled every second while one
   fills. Admins re-embed a served version (POST /api/v1/models/{name}/reembed, a job) and switch
   to a complete one (POST /api/v1/models/{name}/activate): instant, and so is switching back.
   A version the catalog records, other than the active one, can be retired (DELETE
   /api/v1/models/{name}, after a confirm()): its collection is dropped and it costs nothing more. */
$(function () {
  "use strict";
  var N = window.Nauplius;
  var timer = null;

  $("<style>").text([
    ".md-table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }",
    ".md-table th, .md-table td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }",
    ".md-table .muted { color: var(--muted); }",
    ".md-table th { white-space: nowrap; }",
    ".md-table td:last-child { white-space: nowrap; }",
    ".md-table button { margin-right: .3rem; }",
    "#models .dialog { width: min(52rem, 96vw); }"
  ].join("\n")).appendTo("head");

  var $overlay = $("<div id='models' class='overlay' hidden>").append(
    $("<div class='dialog wide' role='dialog' aria-labelledby='models-title'>").append(
      $("<h2 id='models-title'>").text("Embedding models"),
      $("<p class='meta'>").text("Search answers from the active model. Re-embedding fills another " +
        "model's own collection with every stored image while search goes on; once complete, " +
        "switching to it and back is instant."),
      $("<table class='md-table'>").append(
        $("<thead>").append($("<tr>").append(
          $("<th scope='col'>").text("Model"), $("<th scope='col'>").text("State"),
          $("<th scope='col'>").text("Re-embedded"), $("<th scope='col'>").append(
            $("<span class='sr-only'>").text("Actions")))),
        $("<tbody id='models-list'>")),
      $("<p id='models-status' class='status' role='status' aria-live='polite'>"),
      $("<button type='button' id='close-models'>").text("Close"))).appendTo("body");

  $("<button type='button' id='show-models' class='quiet'>").text("Models")
    .attr("title", "Embedding model versions: re-embed, switch").insertBefore("#sign-out");

  function isAdmin() { return !!(N.state.me && N.state.me.role === "admin"); }

  function modelsSay(text, bad) { $("#models-status").text(text).toggleClass("error", !!bad); }

  function stateText(m) {
    if (m.active) { return "active"; }
    if (m.state === "filling") { return "re-embedding"; }
    if (m.state === "complete") { return "complete"; }
    return m.served ? "not embedded" : "not served";
  }

  function progressText(m) {
    if (m.state === "filling") { return m.done + " / " + (m.total == null ? "?" : m.total); }
    if (m.state === "complete" && m.total != null) { return m.done + " / " + m.total; }
    return "";
  }

  function render(answer) {
    var $list = $("#models-list").empty(), filling = false;
    $.each(answer.data, function (_, m) {
      filling = filling || m.state === "filling";
      var $actions = $("<td>");
      if (isAdmin() && m.served && !m.active && m.state === "complete") {
        $actions.append($("<button type='button' class='primary md-activate'>").text("Activate")
          .attr("data-model", m.name));
      }
      if (isAdmin() && m.served && !m.active && m.state !== "filling") {
        $actions.append($("<button type='button' class='md-reembed'>")
          .text(m.state === "complete" ? "Re-embed again" : "Re-embed").attr("data-model", m.name));
      }
      if (isAdmin() && !m.active && m.state !== null) {
        $actions.append($("<button type='button' class='md-retire'>").text("Retire")
          .attr("data-model", m.name));
      }
      $("<tr>").attr("data-model", m.name).append(
        $("<td>").append($("<strong>").text(m.name),
          m.default ? $("<span class='muted'>").text(" · default") : null),
        $("<td class='md-state'>").text(stateText(m)),
        $("<td class='md-progress'>").text(progressText(m)),
        $actions).appendTo($list);
    });
    clearTimeout(timer);
    if (filling && !$overlay.prop("hidden")) { timer = setTimeout(load, 1000); }
  }

  function load() {
    return N.api("GET", "/api/v1/models").done(render)
      .fail(function (xhr) { modelsSay(N.errorText(xhr), true); });
  }

  function open() { modelsSay(""); $overlay.prop("hidden", false); load(); }

  function close() { clearTimeout(timer); $overlay.prop("hidden", true); }

  $("#show-models").on("click", open);
  $("#close-models").on("click", close);
  $overlay.on("keydown", function (event) {
    if (event.key === "Escape") { close(); event.preventDefault(); }
  });

  $overlay.on("click", ".md-reembed", function () {
    var name = $(this).attr("data-model");
    N.api("POST", "/api/v1/models/" + encodeURIComponent(name) + "/reembed").done(function (answer) {
      modelsSay((answer.queued ? "re-embedding into " : "already re-embedding into ") + name +
        " (job " + answer.job.id + ")");
      N.pollJobs();
      load();
    }).fail(function (xhr) { modelsSay(N.errorText(xhr), true); });
  });

  $overlay.on("click", ".md-retire", function () {
    var name = $(this).attr("data-model");
    if (!window.confirm("Retire " + name + "? Its collection is dropped (and a re-embed into it " +
        "stopped); re-embedding it later starts from nothing.")) { return; }
    N.api("DELETE", "/api/v1/models/" + encodeURIComponent(name)).done(function (answer) {
      modelsSay("retired " + name + " (" + answer.points_dropped + " points dropped)");
      N.pollJobs();
      load();
    }).fail(function (xhr) { modelsSay(N.errorText(xhr), true); });
  });

  $overlay.on("click", ".md-activate", function () {
    var name = $(this).attr("data-model");
    N.api("POST", "/api/v1/models/" + encodeURIComponent(name) + "/activate").done(function () {
      modelsSay("search answers from " + name + " now");
      load();
      N.refreshAll();
    }).fail(function (xhr) { modelsSay(N.errorText(xhr), true); });
  });
});
