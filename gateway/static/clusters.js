/* clusters view: registered with window.Nauplius (app.js). jQuery only.
   The review queue (GET /api/v1/clusters, best first) as a list; "Review" opens a cluster in the
   grid, core outwards; "Name all" names every remaining member with the taxon typed in the
   toolbar, "Name up to here" the members up to the current tile, "Name selected" the tiles
   selected (ctrl-click, shift-click; the rest stays queued); then the next cluster opens. Needs a project: the one filtered on, else the default project (1). */
$(function () {
  "use strict";
  var N = window.Nauplius;
  var queue = [], open = null, clustered = null;

  $("<style>").text([
    ".cl-list { grid-column: 1 / -1; display: grid; grid-template-columns: repeat(auto-fill, minmax(20rem, 1fr)); gap: .75rem; }",
    ".cl-card { display: grid; grid-template-rows: auto auto; gap: .5rem; padding: .75rem; border: 1px solid var(--line);",
    "  border-radius: var(--radius); background: var(--surface); }",
    ".cl-thumbs { display: grid; grid-template-columns: repeat(4, 1fr); gap: .25rem; }",
    ".cl-thumbs img { width: 100%; aspect-ratio: 1; object-fit: contain; background: var(--specimen-bg); border-radius: 3px; }",
    ".cl-meta { display: flex; justify-content: space-between; align-items: center; gap: .5rem; font-variant-numeric: tabular-nums; }",
    ".cl-meta .muted { color: var(--muted); font-size: .9rem; }",
    "#cluster-banner ~ button, #recluster { margin-left: .4rem; }"
  ].join("\n")).appendTo("head");

  var $button = $("<button type='button' id='show-clusters'>")
    .attr("title", "Clusters of unlabelled images: name a whole cluster in one action").appendTo("#views");

  function project() { return Number(N.filters().project) || 1; }

  function showCount(n) { $button.text("Clusters (" + n + ")"); }

  function loadQueue() {
    return N.api("GET", "/api/v1/clusters", { project: project() }).done(function (q) {
      queue = q.data;
      clustered = q.clustered;
      showCount(q.count);
    });
  }

  function taxon() { return $.trim($("#batch-taxon").val()); }

  function renderQueue() {
    var $grid = $("#grid").empty();
    if (!queue.length) {
      $grid.append($("<p class='empty'>").text(clustered == null
        ? "No clusters yet: press Recluster to group this project's unlabelled images."
        : "No clusters left to review. Recluster once more images are in."));
      return;
    }
    var $list = $("<div class='cl-list' role='list' aria-label='Cluster proposals'>").appendTo($grid);
    $.each(queue, function (i, c) {
      var $thumbs = $("<div class='cl-thumbs'>");
      $.each(c.thumbnail_urls, function (_, url) { $thumbs.append($("<img alt=''>").attr("src", url)); });
      $("<div class='cl-card' role='listitem'>").attr("data-cluster-id", c.id)
        .append($thumbs)
        .append($("<div class='cl-meta'>")
          .append($("<span>").append($("<strong>").text(c.remaining + " images"))
            .append(" ").append($("<span class='muted'>").text("· est. purity " + Math.round(100 * c.estimated_purity) + "%")))
          .append($("<button type='button' class='primary cl-review'>").text(i === 0 ? "Review first" : "Review")))
        .appendTo($list);
    });
  }

  function recluster() {
    N.say("clustering the project's unlabelled images…");
    N.api("POST", "/api/v1/clusters/refresh?project=" + project()).done(function (answer) {
      var r = answer.job && answer.job.task ? answer.job.task.result : null;
      N.say(r ? "clustered " + r.clustered + " images into " + r.clusters + " clusters" : "clustering runs as job " + (answer.job ? answer.job.id : ""));
      N.pollJobs();
      loadQueue().always(function () { N.showView("clusters"); });
    }).fail(function (xhr) { N.say(N.errorText(xhr), true); });
  }

  function openCluster(c) {
    open = c;
    N.showView("cluster");
  }

  function nextCluster() {
    loadQueue().done(function () {
      var next = $.grep(queue, function (c) { return !open || c.id !== open.id; })[0];
      if (next) { openCluster(next); } else { open = null; N.showView("clusters"); }
    });
  }

  /* which: { up_to: N } or { image_ids: [...] } */
  function name(which) {
    var t = taxon();
    if (!t) { N.say("type a taxon in the toolbar first", true); $("#batch-taxon").trigger("focus"); return; }
    N.api("POST", "/api/v1/clusters/" + open.id + "/name", $.extend({ taxon: t }, which)).done(function (r) {
      N.say("named " + r.image_ids.length + " × " + t + (r.remaining ? "; " + r.remaining + " stay queued" : ""));
      N.loadCounts();
      nextCluster();  // a part named: the rest of this one stays queued, behind the next
    }).fail(function (xhr) { N.say(N.errorText(xhr), true); });
  }

  N.addView("clusters", {
    load: function () {
      return loadQueue().then(function (q) { return { data: [], count: q.count, more: false }; });
    },
    banner: function ($mode) {
      renderQueue();
      $("#page-info").text("");
      $mode.append($("<span>").text(queue.length ? queue.length + " clusters, best first (images × estimated purity). " : ""))
        .append($("<button type='button' id='recluster'>").text("Recluster"));
    },
    empty: "No clusters."
  });

  N.addView("cluster", {
    load: function (offset, limit) {
      return N.api("GET", "/api/v1/clusters/" + open.id + "/images", { offset: offset, limit: limit }).then(function (page) {
        open.remaining = page.count;
        return { data: page.data, count: page.count, more: offset + page.data.length < page.count };
      });
    },
    banner: function ($mode) {
      var here = N.state.current >= 0 ? N.state.offset + N.state.current + 1 : null;
      $mode.append($("<span id='cluster-banner'>").text("Cluster of " + open.remaining + ", core first · est. purity " +
          Math.round(100 * open.estimated_purity) + "%. Type the taxon in the toolbar, then "))
        .append($("<button type='button' class='primary' id='cluster-name-all'>").text("Name all " + open.remaining))
        .append($("<button type='button' id='cluster-name-here'>").attr("title", "Name the images up to the current tile (click one first)")
          .text(here ? "Name up to here (" + here + ")" : "Name up to here").prop("disabled", !here))
        .append($("<button type='button' id='cluster-name-selected'>").attr("title", "Name the selected tiles (ctrl-click or shift-click them)")
          .text("Name selected").prop("disabled", true))
        .append($("<button type='button' id='cluster-next'>").text("Skip to next cluster"))
        .append($("<button type='button' class='link' id='cluster-queue'>").text("the queue"));
    },
    empty: "Every image of this cluster is judged."
  });

  $button.on("click", function () { N.showView("clusters"); });
  $("#grid").on("click", ".cl-review", function () {
    var id = Number($(this).closest(".cl-card").attr("data-cluster-id"));
    openCluster($.grep(queue, function (c) { return c.id === id; })[0]);
  });
  function paintButtons() {
    if (N.state.mode !== "cluster") { return; }
    setTimeout(function () {  // after app.js made it current and selected
      var here = N.state.current >= 0 ? N.state.offset + N.state.current + 1 : null;
      var selected = N.selectedIds().length;
      $("#cluster-name-here").prop("disabled", !here).text(here ? "Name up to here (" + here + ")" : "Name up to here");
      $("#cluster-name-selected").prop("disabled", !selected).text(selected ? "Name selected (" + selected + ")" : "Name selected");
    }, 0);
  }
  $("#grid").on("click", ".tile", paintButtons);
  $(document).on("keyup", paintButtons);
  $("#mode").on("click", "#recluster", recluster);
  $("#mode").on("click", "#cluster-name-all", function () { name({ up_to: open.remaining }); });
  $("#mode").on("click", "#cluster-name-here", function () {
    if (N.state.current >= 0) { name({ up_to: N.state.offset + N.state.current + 1 }); }
  });
  $("#mode").on("click", "#cluster-name-selected", function () {
    var ids = N.selectedIds();
    if (ids.length) { name({ image_ids: ids }); }
  });
  $("#mode").on("click", "#cluster-next", nextCluster);
  $("#mode").on("click", "#cluster-queue", function () { N.showView("clusters"); });

  N.onStart(loadQueue);
  N.onRefresh(loadQueue);
});
