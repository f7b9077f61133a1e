/* duplicates view: registered with window.Nauplius (app.js). jQuery only.
   Near-duplicate pairs side by side, most alike first; per pair "Merge" (m) and "Not a
   duplicate" (n); j/k or the arrow keys move between pairs, [ and ] turn pages. */
$(function () {
  "use strict";
  var N = window.Nauplius;
  var pairs = [], current = 0, count = 0;

  $("<style>").text([
    ".dup-list { grid-column: 1 / -1; display: grid; gap: .75rem; }",
    ".dup-pair { display: grid; grid-template-columns: 1fr 1fr auto; gap: 1rem; align-items: center;",
    "  padding: .75rem; border: 1px solid var(--line); border-radius: var(--radius); background: var(--surface); }",
    ".dup-pair.current { outline: 3px solid var(--focus); outline-offset: 1px; }",
    ".dup-pair figure { margin: 0; display: grid; grid-template-rows: 220px auto; gap: .35rem; }",
    ".dup-pair img { width: 100%; height: 100%; object-fit: contain; background: var(--specimen-bg); border-radius: 3px; }",
    ".dup-pair figcaption { font-size: .9rem; }",
    ".dup-pair figcaption .state { color: var(--muted); }",
    ".dup-actions { display: grid; gap: .5rem; justify-items: stretch; min-width: 10rem; }",
    ".dup-cosine { font-variant-numeric: tabular-nums; text-align: center; color: var(--muted); }"
  ].join("\n")).appendTo("head");

  var $button = $("<button type='button' id='show-duplicates'>")
    .attr("title", "Near-duplicate pairs found at ingest").appendTo("#views");

  function showCount(n) {
    count = n;
    $button.text("Duplicates (" + n + ")");
  }

  function refreshCount() {
    N.api("GET", "/api/v1/duplicates", { limit: 1 }).done(function (page) { showCount(page.count); });
  }

  function figure(image, role) {
    var caption = $("<figcaption>")
      .append($("<strong>").text(image.label || "unlabelled"))
      .append(" ").append($("<span class='state'>").text((image.label ? image.label_state + " · " : "") + "#" + image.id + " · " + role));
    return $("<figure>")
      .append($("<img>").attr({ src: image.file_url, alt: "Image " + image.id + ": " + (image.label || "unlabelled") }))
      .append(caption);
  }

  function paint() {
    $("#grid .dup-pair").each(function (i) {
      $(this).toggleClass("current", i === current).attr("aria-current", i === current ? "true" : null);
    });
  }

  function render() {
    var $grid = $("#grid").empty();
    if (!pairs.length) {
      $grid.append($("<p class='empty'>").text("No open near-duplicate pairs."));
      return;
    }
    var $list = $("<div class='dup-list' role='list' aria-label='Near-duplicate pairs'>").appendTo($grid);
    $.each(pairs, function (i, pair) {
      var $actions = $("<div class='dup-actions'>")
        .append($("<span class='dup-cosine'>").text("cosine " + pair.cosine.toFixed(3)))
        .append($("<button type='button' class='primary dup-merge'>").attr("title", "Merge (m): the better label is kept").text("Merge"))
        .append($("<button type='button' class='dup-dismiss'>").attr("title", "Not a duplicate (n)").text("Not a duplicate"));
      $("<div class='dup-pair' role='listitem'>").attr({ "data-index": i, "data-image-id": pair.image.id })
        .attr("aria-label", "Image " + pair.image.id + " and image " + pair.of_image.id + ", cosine " + pair.cosine.toFixed(3))
        .append(figure(pair.of_image, "stored first")).append(figure(pair.image, "flagged"))
        .append($actions).appendTo($list);
    });
    current = Math.min(current, pairs.length - 1);
    paint();
  }

  function settle(index, action) {
    var pair = pairs[index];
    if (!pair) { return; }
    N.api("POST", "/api/v1/duplicates/" + pair.image.id + "/" + action).done(function (done) {
      N.say(action === "merge" ? "merged #" + done.merged_id + " into #" + done.kept_id
        : "#" + pair.image.id + " and #" + pair.of_image.id + " are not duplicates");
      N.loadCounts();
      N.loadPage();
    }).fail(function (xhr) { N.say(N.errorText(xhr), true); });
  }

  N.addView("duplicates", {
    load: function (offset, limit) {
      return N.api("GET", "/api/v1/duplicates", { offset: offset, limit: limit }).then(function (page) {
        pairs = page.data;
        showCount(page.count);
        // The grid shows no tiles here: banner() lays the pairs out instead.
        return { data: [], count: page.count, more: page.more };
      });
    },
    banner: function ($mode, page) {
      render();
      var first = N.state.offset + 1, last = N.state.offset + pairs.length;
      $("#page-info").text(pairs.length ? first + "–" + last + " of " + page.count : "");
      $mode.append($("<span>").text("Near-duplicates: " + count + " open pair" + (count === 1 ? "" : "s") +
        ". m merge, n not a duplicate, j/k move. "));
    },
    empty: "No open near-duplicate pairs."
  });

  $button.on("click", function () { current = 0; N.showView("duplicates"); });
  $("#grid").on("click", ".dup-merge, .dup-dismiss", function () {
    var index = Number($(this).closest(".dup-pair").attr("data-index"));
    current = index;
    settle(index, $(this).hasClass("dup-merge") ? "merge" : "dismiss");
  });
  $("#grid").on("click", ".dup-pair", function () { current = Number($(this).attr("data-index")); paint(); });

  $(document).on("keydown", function (event) {
    if (N.state.mode !== "duplicates" || !pairs.length || event.ctrlKey || event.metaKey || event.altKey) { return; }
    if ($(event.target).is("input, select, textarea") || !$("#signin").prop("hidden") || !$("#help").prop("hidden")) { return; }
    var key = event.key;
    if (key === "j" || key === "ArrowDown" || key === "ArrowRight") { current = Math.min(pairs.length - 1, current + 1); }
    else if (key === "k" || key === "ArrowUp" || key === "ArrowLeft") { current = Math.max(0, current - 1); }
    else if (key === "m") { settle(current, "merge"); }
    else if (key === "n") { settle(current, "dismiss"); }
    else { return; }
    event.preventDefault();
    paint();
    var el = $("#grid .dup-pair").get(current);
    if (el && el.scrollIntoView) { el.scrollIntoView({ block: "nearest" }); }
  });

  N.onStart(refreshCount);
  N.onRefresh(refreshCount);
});
