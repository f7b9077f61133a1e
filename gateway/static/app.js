/* Nauplius frontend: sign in, browse and filter, select, label in batches, review, export. jQuery only. */
$(function () {
  "use strict";

  var PAGE_SIZE = 48;
  var UPLOAD_BATCH = 16;
  var KEY_STORE = "nauplius.apiKey";
  var KEY_COOKIE = "nauplius_api_key";
  var LAST_TAXON_STORE = "nauplius.lastTaxon";

  var state = {
    key: localStorage.getItem(KEY_STORE) || "",
    me: null,
    mode: "browse",          // "browse": the filtered list; "similar": query by example
    similarTo: [],           // the examples ("like these"); marking "more like this" adds to them
    notLike: [],              // similar mode: ids marked "not like this" (the query's negatives)
    marked: {},               // id -> "more" | "not": marks on the page not yet sent by Refine
    offset: 0, count: 0, more: false,
    cursors: [null],          // cursors[k]: the cursor of browse page k (keyset: deep pages as fast as the first)
    page: [],                 // the images shown, in order
    current: -1,              // index in page of the image in the panel (keyboard cursor)
    anchor: -1,               // where a shift-click range starts
    selected: {},             // id -> true
    lastTaxon: localStorage.getItem(LAST_TAXON_STORE) || "",
    taxa: []
  };

  /* ---- requests: every one carries the key and the client header ---- */
  function setKeyCookie(key) {
    // Path / so that /docs and /openapi.json open with it too; Secure behind HTTPS, so the key
    // never travels in clear. The cookie of the former path /api/v1 is dropped.
    document.cookie = KEY_COOKIE + "=; path=/api/v1; max-age=0";
    document.cookie = KEY_COOKIE + "=" + encodeURIComponent(key) + "; path=/; SameSite=Strict" +
      (location.protocol === "https:" ? "; Secure" : "") + (key ? "" : "; max-age=0");
  }

  function api(method, path, data, options) {
    // X-Nauplius-Client: with GATEWAY_AUTH=off the gateway takes writes only with it (no form of
    // another site can send it).
    var headers = { "X-Nauplius-Client": "1" };
    if (state.key) { headers.Authorization = "Bearer " + state.key; }
    var settings = $.extend({
      url: path, method: method, dataType: "json", headers: headers
    }, options || {});
    if (data !== undefined && method === "GET") { settings.data = data; settings.traditional = true; }
    else if (data !== undefined) { settings.data = JSON.stringify(data); settings.contentType = "application/json"; }
    return $.ajax(settings).fail(function (xhr) { if (xhr.status === 401) { askForKey(errorText(xhr)); } });
  }

  function errorText(xhr) {
    var body = xhr.responseJSON;
    if (body && typeof body.detail === "string") { return body.detail; }
    if (body && body.detail) { return JSON.stringify(body.detail); }
    return xhr.status ? "HTTP " + xhr.status : "network error";
  }

  function say(text, isError) {
    $("#action-status").toggleClass("error", !!isError).text(text);
  }

  /* ---- sign in ---- */
  function askForKey(reason) {
    $("#signin-status").text(reason && state.key ? reason : "");
    $("#signin").prop("hidden", false);
    $("#signin-key").val("").trigger("focus");
  }

  function signIn(key) {
    state.key = key;
    setKeyCookie(key);
    return api("GET", "/api/v1/me").done(function (me) {
      if (key) { localStorage.setItem(KEY_STORE, key); }
      state.me = me;
      $("#signin").prop("hidden", true);
      $("#who").text((me.name || "local user") + " · " + me.role);
      $("#sign-out").toggle(!!key);
      $("#show-projects").prop("hidden", me.role !== "admin");
      start();
    });
  }

  $("#signin-form").on("submit", function (event) {
    event.preventDefault();
    var key = $.trim($("#signin-key").val());
    if (key) { signIn(key).fail(function (xhr) { $("#signin-status").text(errorText(xhr)); }); }
  });

  $("#sign-out").on("click", function () {
    localStorage.removeItem(KEY_STORE);
    state.key = "";
    setKeyCookie("");
    state.me = null;
    $("#grid").empty();
    askForKey();
  });

  /* ---- filters ---- */
  function filters() {
    var suggested = $("#filter-suggested").val();
    var f = { project: $("#filter-project").val(), state: suggested ? "predicted" : $("#filter-state").val(),
              taxon: suggested, order: $("#filter-order").val() };
    $.each(f, function (name, value) { if (!value) { delete f[name]; } });
    return f;
  }

  function loadProjects() {
    return api("GET", "/api/v1/projects").done(function (result) {
      var $select = $("#filter-project"), chosen = $select.val();
      $select.find("option:not(:first)").remove();
      $.each(result.data, function (_, p) {
        $select.append($("<option>").val(p.id).text(p.name + " (" + p.image_count + ")"));
      });
      $select.val(chosen);
    });
  }

  function loadGroups() {
    var params = { min_confidence: groupConfidence() };
    if (filters().project) { params.project = filters().project; }
    return api("GET", "/api/v1/suggestions/groups", params).done(function (groups) {
      var $select = $("#filter-suggested"), chosen = $select.val();
      $select.find("option:not(:first)").remove();
      $.each(groups.data || groups, function (_, g) {
        $select.append($("<option>").val(g.taxon).attr("data-confident", g.confident)
          .text(g.taxon + " (" + g.confident + " of " + g.images + " ≥ " + params.min_confidence + ")"));
      });
      if (chosen && !$select.find("option").filter(function () { return this.value === chosen; }).length) {
        $select.append($("<option>").val(chosen).attr("data-confident", 0).text(chosen + " (0)"));
      }
      $select.val(chosen);
      showGroupAction();
    });
  }

  function groupConfidence() {
    var c = Number($("#group-confidence").val());
    return isFinite(c) ? Math.min(1, Math.max(0, c)) : 0.9;
  }

  function showGroupAction() {
    var taxon = $("#filter-suggested").val();
    var $option = $("#filter-suggested option:selected");
    var n = taxon ? Number($option.attr("data-confident") || 0) : 0;
    $("#group-accept").prop("disabled", !taxon || !n)
      .text(taxon ? "Validate " + n + " × " + taxon : "Validate group")
      .attr("title", taxon ? "" : "pick a suggested taxon first");
    $("#filter-state").prop("disabled", !!taxon);
  }

  $("#filter-project, #filter-state, #filter-suggested, #filter-order").on("change", function () {
    state.mode = "browse";
    state.offset = 0;
    showGroupAction();
    refreshAll();
  });
  $("#group-confidence").on("change", function () { loadGroups(); });

  function updateExportLinks() {
    var project = filters().project;
    $.each(["csv", "ecotaxa", "dwca"], function (_, format) {
      $("#export-" + format).attr("href", "/api/v1/export?format=" + format + (project ? "&project=" + project : ""));
    });
  }

  /* ---- counter and jobs ---- */
  function loadCounts() {
    var project = filters().project;
    return api("GET", "/api/v1/label-counts", project ? { project: project } : {}).done(function (counts) {
      var total = 0;
      $.each(counts, function (_, n) { total += n; });
      var validated = counts.validated || 0;
      $("#count-validated").text(validated);
      $("#count-remaining").text(total - validated);
      $("#count-bar").css("width", total ? (100 * validated / total).toFixed(1) + "%" : "0");
    });
  }

  function pollJobs() {
    if (!state.me) { return; }
    api("GET", "/api/v1/jobs", { running: true }).done(function (result) {
      var jobs = result.data || [];
      if (!jobs.length) { $("#jobs").text("").removeClass("active"); return; }
      var done = 0, total = 0, tasks = [];
      $.each(jobs, function (_, job) {
        var c = job.counts || {};
        done += (c.done || 0) + (c.duplicate || 0) + (c.failed || 0);
        total += job.total || 0;
        if (job.task && job.kind !== "archive") {
          // A suggestions refresh or a reconcile: its own counter.
          tasks.push(job.kind + " " + (job.task.done || 0) + "/" + (job.task.total || "?"));
        }
      });
      var parts = [];
      if (total) { parts.push("ingesting " + done + "/" + total); }
      parts = parts.concat(tasks);
      $("#jobs").addClass("active").text(parts.join(", ") + " (" + jobs.length + " job" + (jobs.length > 1 ? "s" : "") + ")");
    }).fail(function () { $("#jobs").text(""); });
  }

  /* ---- taxa and the taxon picker ---- */
  function loadTaxa() {
    return api("GET", "/api/v1/taxa").done(function (result) { state.taxa = result.data || []; });
  }

  function matchTaxa(text) {
    var q = $.trim(text).toLowerCase();
    if (!q) { return state.taxa.slice(0, 12); }
    var starts = [], contains = [];
    $.each(state.taxa, function (_, t) {
      var name = t.name.toLowerCase();
      if (name.indexOf(q) === 0) { starts.push(t); } else if (name.indexOf(q) > 0) { contains.push(t); }
    });
    return starts.concat(contains).slice(0, 12);
  }

  function attachPicker($input, onPick) {
    var $list = $("<ul class='options' role='listbox' hidden>").attr("id", $input.attr("id") + "-options");
    $input.attr("aria-controls", $list.attr("id")).after($list);
    var active = -1;

    function close() { $list.prop("hidden", true).empty(); $input.attr("aria-expanded", "false"); active = -1; }
    function render() {
      var found = matchTaxa($input.val());
      $list.empty();
      if (!found.length) { close(); return; }
      $.each(found, function (i, t) {
        $list.append($("<li role='option'>").attr("id", $list.attr("id") + "-" + i).attr("data-name", t.name)
          .append($("<span class='name'>").text(t.name))
          .append($("<span class='meta'>").text([t.rank, t.parent ? "in " + t.parent : ""].filter(Boolean).join(" · "))));
      });
      $list.prop("hidden", false);
      $input.attr("aria-expanded", "true");
      highlight(-1);
    }
    function highlight(i) {
      var $items = $list.children();
      active = Math.max(-1, Math.min(i, $items.length - 1));
      $items.removeClass("active").attr("aria-selected", "false");
      if (active >= 0) {
        $items.eq(active).addClass("active").attr("aria-selected", "true");
        $input.attr("aria-activedescendant", $items.eq(active).attr("id"));
      }
    }
    function pick(name) { $input.val(name); close(); if (onPick) { onPick(name); } }

    $input.on("input focus", render)
      .on("blur", function () { setTimeout(close, 150); })
      .on("keydown", function (event) {
        var open = !$list.prop("hidden");
        if (event.key === "ArrowDown") { if (!open) { render(); } highlight(active + 1); event.preventDefault(); }
        else if (event.key === "ArrowUp" && open) { highlight(active - 1); event.preventDefault(); }
        else if (event.key === "Enter" && open && active >= 0) {
          pick($list.children().eq(active).attr("data-name"));
          event.preventDefault();
        } else if (event.key === "Escape") { close(); $input.trigger("blur"); event.stopPropagation(); }
      });
    $list.on("mousedown", "li", function (event) { event.preventDefault(); pick($(this).attr("data-name")); });
  }

  /* ---- grid ---- */
  function pct(confidence) { return Math.round(100 * confidence) + "%"; }

  function tile(image, index) {
    var $tile = $("<button type='button' class='tile' role='option'>")
      .attr("data-id", image.id).attr("data-index", index).attr("data-state", image.label_state || "unlabelled")
      .append($("<img loading='lazy' alt=''>").attr("src", image.thumbnail_url))
      .append($("<span class='check' aria-hidden='true'>✓</span>"));
    if (state.mode === "similar") {
      $tile.append($("<span class='marks'>")
        .append($("<span class='mark mark-more' role='button' title='More like this (m)'>").text("+"))
        .append($("<span class='mark mark-not' role='button' title='Not like this (n)'>").text("−")));
    }
    fillTileLabel($tile, image);
    return $tile;
  }

  function fillTileLabel($tile, image) {
    var st = image.label_state || "unlabelled";
    $tile.attr("data-state", st).find(".caption, .badge").remove();
    $tile.attr("aria-label", "Image " + image.id + ": " + (image.label || "unlabelled") + ", " + st);
    $tile.append($("<span class='caption'>")
      .append($("<span class='dot' aria-hidden='true'>"))
      .append($("<span class='label'>").toggleClass("unlabelled", !image.label).text(image.label || "unlabelled")));
    if (st === "predicted" && image.label_confidence != null) {
      $tile.append($("<span class='badge'>").attr("title", "suggested with confidence " + image.label_confidence.toFixed(2))
        .text(pct(image.label_confidence)));
    }
  }

  /* Views other files add to the grid (clusters.js, duplicates.js, ...): a view answers a page of
     images in its own order, and may write its own line in #mode. */
  var views = {};
  var startHooks = [], refreshHooks = [];

  function loadPage() {
    var request, view = views[state.mode];
    if (view) {
      request = view.load(state.offset, PAGE_SIZE);
    } else if (state.mode === "similar") {
      var body = $.extend({ image_ids: state.similarTo, limit: PAGE_SIZE, offset: state.offset }, similarFilters());
      if (state.notLike.length) { body.negative_ids = state.notLike; }
      request = api("POST", "/api/v1/similar", body).then(function (r) {
        return { data: r.data, count: null, more: r.more };
      });
    } else {
      if (state.offset === 0) { state.cursors = [null]; }  // a new list: forget the old one's cursors
      var k = Math.floor(state.offset / PAGE_SIZE), cursor = state.cursors[k];
      // The next page follows the cursor the page before gave; offset only where none is known.
      var params = cursor ? { limit: PAGE_SIZE, cursor: cursor } : { limit: PAGE_SIZE, offset: state.offset };
      request = api("GET", "/api/v1/images", $.extend(params, filters()))
        .then(function (r) {
          state.cursors[k + 1] = r.next_cursor;
          // A cursor page filtered by confidence has no count: the first page gave it.
          return { data: r.data, count: r.count != null ? r.count : state.count, more: r.next_cursor != null };
        });
    }
    return request.done(function (page) {
      var keepId = state.current >= 0 && state.page[state.current] ? state.page[state.current].id : null;
      state.page = page.data;
      state.count = page.count;
      state.more = page.more;
      var $grid = $("#grid").empty();
      if (!page.data.length) {
        $grid.append($("<p class='empty'>").text(view && view.empty ? view.empty
          : state.mode === "similar" ? "No similar images match these filters."
          : "No images here. Change the filters, or add images with the button above."));
      }
      $.each(page.data, function (i, image) { $grid.append(tile(image, i)); });
      state.current = -1;
      $.each(state.page, function (i, image) { if (image.id === keepId) { state.current = i; } });
      pruneSelection();
      paintSelection();
      var first = state.offset + 1, last = state.offset + page.data.length;
      $("#page-info").text(page.data.length ? first + "–" + last + (page.count != null ? " of " + page.count : "") : "");
      $("#prev-page").prop("disabled", state.offset === 0);
      $("#next-page").prop("disabled", !page.more);
      $("#mode").empty();
      if (view) {
        if (view.banner) { view.banner($("#mode"), page); }
        $("#mode").append($("<button type='button' class='link' id='back-to-browse'>").text("back to the list"));
      } else if (state.mode === "similar") {
        state.marked = {};
        similarBanner();
      }
    }).fail(function (xhr) {
      $("#grid").empty().append($("<p class='empty'>").text("Could not load images: " + errorText(xhr)));
    });
  }

  /* ---- similar mode: "more like these, not like those" ---- */
  function similarBanner() {
    var like = state.similarTo.length, not = state.notLike.length, $mode = $("#mode").empty();
    var pending = Object.keys(state.marked).length;
    $mode.append($("<span id='similar-banner'>").text(not ? "Like " + like + ", not like " + not
      : "Similar to " + like + " image" + (like > 1 ? "s" : "")));
    $mode.append($("<button type='button' id='refine' title='Re-query with the marked images (r)'>")
      .text(pending ? "Refine (" + pending + " marked)" : "Refine").prop("disabled", !pending));
    if (not || like > 1) {
      $mode.append($("<button type='button' class='link' id='clear-refinement'>").text("clear"));
    }
    $mode.append($("<button type='button' class='link' id='back-to-browse'>").text("back to the list"));
  }

  function paintMarks() {
    $("#grid .tile").each(function () {
      var mark = state.marked[Number($(this).attr("data-id"))];
      $(this).toggleClass("marked-more", mark === "more").toggleClass("marked-not", mark === "not");
    });
    similarBanner();
  }

  // Mark (or unmark) images of the page as more / not like these; Refine sends the marks.
  function mark(ids, how) {
    if (state.mode !== "similar") { return; }
    if (!ids.length) { say("select images first", true); return; }
    var unmark = $.grep(ids, function (id) { return state.marked[id] === how; }).length === ids.length;
    $.each(ids, function (_, id) { if (unmark) { delete state.marked[id]; } else { state.marked[id] = how; } });
    paintMarks();
  }

  function refine() {
    if (state.mode !== "similar") { return; }
    var more = [], not = [];
    $.each(state.marked, function (id, how) { (how === "more" ? more : not).push(Number(id)); });
    if (!more.length && !not.length) { say("mark images first: + more like this (m), − not like this (n)", true); return; }
    var keep = function (id) { return $.inArray(id, not) < 0; };
    // The newest 50 of each: the routes take at most 50 examples and 50 negatives.
    state.similarTo = $.grep(state.similarTo, keep).concat(more).slice(-50);
    state.notLike = $.grep(state.notLike, function (id) { return $.inArray(id, more) < 0; })
      .concat(not).slice(-50);
    state.offset = 0;
    state.selected = {};
    say("refined: like " + state.similarTo.length + ", not like " + state.notLike.length);
    loadPage();
  }

  $("#mode").on("click", "#refine", refine);
  $("#mode").on("click", "#clear-refinement", function () {
    state.similarTo = state.similarTo.slice(0, 1);
    state.notLike = [];
    state.offset = 0;
    loadPage();
  });
  $("#grid").on("click", ".mark", function (event) {
    event.stopPropagation();
    mark([Number($(this).closest(".tile").attr("data-id"))], $(this).hasClass("mark-more") ? "more" : "not");
  });

  function similarFilters() {
    var f = filters(), out = {};
    if (f.project) { out.project = Number(f.project); }
    if (f.taxon) { out.suggested_taxon = f.taxon; } else if (f.state) { out.state = f.state; }
    return out;
  }

  $("#mode").on("click", "#back-to-browse", function () { state.mode = "browse"; state.offset = 0; loadPage(); });
  $("#prev-page").on("click", function () { turnPage(-1); });
  $("#next-page").on("click", function () { turnPage(1); });

  function turnPage(direction) {
    if (direction < 0 && state.offset === 0) { return; }
    if (direction > 0 && !state.more) { return; }
    state.offset = Math.max(0, state.offset + direction * PAGE_SIZE);
    state.selected = {};
    loadPage();
  }

  /* ---- selection ---- */
  function selectedIds() {
    return $.map(state.page, function (image) { return state.selected[image.id] ? image.id : null; });
  }

  function pruneSelection() {
    var shown = {};
    $.each(state.page, function (_, image) { shown[image.id] = true; });
    $.each(Object.keys(state.selected), function (_, id) { if (!shown[id]) { delete state.selected[id]; } });
  }

  function paintSelection() {
    $("#grid .tile").each(function () {
      var index = Number($(this).attr("data-index"));
      var on = !!state.selected[Number($(this).attr("data-id"))];
      $(this).toggleClass("selected", on).attr("aria-selected", on ? "true" : "false")
        .toggleClass("current", index === state.current);
    });
    var n = selectedIds().length;
    $("#selected-count").text(n);
    $("#batch-assign, #batch-dubious, #find-similar").prop("disabled", !n);
  }

  function selectRange(from, to) {
    var lo = Math.min(from, to), hi = Math.max(from, to);
    for (var i = lo; i <= hi; i += 1) { state.selected[state.page[i].id] = true; }
  }

  function moveTo(index, extend) {
    if (!state.page.length) { return; }
    index = Math.max(0, Math.min(index, state.page.length - 1));
    if (extend) {
      if (state.anchor < 0) { state.anchor = Math.max(0, state.current); }
      state.selected = {};
      selectRange(state.anchor, index);
    } else {
      state.selected = {};
      state.selected[state.page[index].id] = true;
      state.anchor = index;
    }
    openCurrent(index);
  }

  $("#grid").on("click", ".tile", function (event) {
    var index = Number($(this).attr("data-index")), id = state.page[index].id;
    if (event.shiftKey && state.anchor >= 0) {
      if (!(event.ctrlKey || event.metaKey)) { state.selected = {}; }
      selectRange(state.anchor, index);
    } else if (event.ctrlKey || event.metaKey) {
      if (state.selected[id]) { delete state.selected[id]; } else { state.selected[id] = true; }
      state.anchor = index;
    } else {
      state.selected = {};
      state.selected[id] = true;
      state.anchor = index;
    }
    openCurrent(index);
  });

  function selectPage() {
    $.each(state.page, function (_, image) { state.selected[image.id] = true; });
    paintSelection();
  }
  $("#select-all").on("click", selectPage);
  $("#select-none").on("click", function () { state.selected = {}; paintSelection(); });

  /* ---- side panel ---- */
  function currentImage() { return state.current >= 0 ? state.page[state.current] : null; }

  function openCurrent(index) {
    state.current = index;
    paintSelection();
    var $tile = $("#grid .tile[data-index='" + index + "']");
    if ($tile.length) { $tile[0].focus({ preventScroll: true }); $tile[0].scrollIntoView({ block: "nearest" }); }
    showImage(state.page[index]);
  }

  function showImage(image) {
    $("#panel-empty").prop("hidden", true);
    $("#panel-body").prop("hidden", false);
    $("#label-status").text("").removeClass("error");
    $("#panel-image").attr("src", image.file_url).attr("alt", "Image " + image.id);
    showLabel(image);
    var meta = ["#" + image.id, image.filename, image.width + "×" + image.height + " px", image.instrument, image.sample];
    $("#panel-meta").text($.grep(meta, Boolean).join(" · "));
    loadSimilar(image.id);
    loadHistory(image.id);
  }

  function showLabel(image) {
    var st = image.label_state || "unlabelled";
    var $label = $("#panel-label").empty().attr("data-state", st);
    $label.append($("<span class='dot' aria-hidden='true'>"))
      .append($("<span>").toggleClass("unlabelled", !image.label).text(image.label || "no label yet"))
      .append($("<span class='meta'>").text(" " + st +
        (st === "predicted" && image.label_confidence != null ? ", confidence " + image.label_confidence.toFixed(2) : "")));
    $("#label-taxon").val(image.label || state.lastTaxon || "");
    $("#panel-validate").prop("disabled", !image.label || st === "validated");
  }

  function loadSimilar(id) {
    var $list = $("#similar");
    // Re-reading the same image's neighbours keeps the old ones until the new arrive: no flicker.
    if (Number($list.attr("data-for")) !== id) { $list.empty().append($("<li class='meta'>").text("searching…")); }
    api("GET", "/api/v1/images/" + id + "/similar", { k: 12 }).done(function (result) {
      if (!currentImage() || currentImage().id !== id) { return; }
      $list.empty().attr("data-for", id);
      if (!result.data.length) { $list.append($("<li class='meta'>").text("no neighbours yet")); }
      $.each(result.data, function (_, n) {
        $list.append($("<li>").append(
          $("<button type='button'>").attr("data-id", n.id)
            .attr("aria-label", "Image " + n.id + ", " + (n.label || "unlabelled") + ", score " + n.score.toFixed(3))
            .append($("<img loading='lazy' alt=''>").attr("src", n.thumbnail_url))
            .append($("<span class='label'>").toggleClass("unlabelled", !n.label).text(n.label || "unlabelled"))
            .append($("<span class='score'>").text(n.score.toFixed(3)))
        ));
      });
    }).fail(function (xhr) { $list.empty().append($("<li class='meta'>").text(errorText(xhr))); });
  }

  function describe(taxon, st) { return (taxon || "no taxon") + " (" + st + ")"; }

  function loadHistory(id) {
    var $list = $("#history");
    api("GET", "/api/v1/images/" + id + "/labels").done(function (result) {
      if (!currentImage() || currentImage().id !== id) { return; }
      $list.empty();
      if (!result.data.length) { $list.append($("<li class='meta'>").text("never labelled")); }
      $.each(result.data.slice().reverse(), function (_, entry) {
        var $li = $("<li>")
          .append($("<div class='change'>")
            .append($("<span class='from'>").text(describe(entry.previous_taxon, entry.previous_state)))
            .append(" → ")
            .append($("<strong>").text(describe(entry.taxon, entry.state))))
          .append($("<div class='meta'>").text([entry.annotator || "unknown",
            entry.created_at ? new Date(entry.created_at).toLocaleString() : "",
            entry.confidence != null ? "confidence " + entry.confidence.toFixed(2) : "",
            entry.reverts_label_id ? "undoes #" + entry.reverts_label_id : ""].filter(Boolean).join(" · ")));
        $li.append($("<button type='button' class='link revert'>").attr("data-label-id", entry.id).text("revert"));
        $list.append($li);
      });
    }).fail(function (xhr) { $list.empty().append($("<li class='meta'>").text(errorText(xhr))); });
  }

  $("#history").on("click", ".revert", function () {
    var image = currentImage();
    api("POST", "/api/v1/labels/" + $(this).attr("data-label-id") + "/revert").done(function () {
      say("change reverted");
      reloadImage(image.id);
      loadCounts();
    }).fail(function (xhr) { say(errorText(xhr), true); });
  });

  $("#similar").on("click", "button", function () {
    var id = Number($(this).attr("data-id"));
    var index = -1;
    $.each(state.page, function (i, image) { if (image.id === id) { index = i; } });
    if (index >= 0) { moveTo(index, false); return; }
    api("GET", "/api/v1/images/" + id).done(function (image) { state.current = -1; paintSelection(); showImage(image); });
  });

  $("#similar-to-current").on("click", function () {
    var image = currentImage();
    if (image) { showSimilar([image.id]); }
  });

  /* Re-read one image after a change and repaint its tile in place: no reload, no jump. */
  function reloadImage(id) {
    return api("GET", "/api/v1/images/" + id).done(function (image) {
      $.each(state.page, function (i, shown) {
        if (shown.id === id) {
          state.page[i] = image;
          fillTileLabel($("#grid .tile[data-index='" + i + "']"), image);
        }
      });
      var current = currentImage();
      if (current && current.id === id) { showLabel(image); loadHistory(id); loadSimilar(id); }
    });
  }

  /* ---- labelling actions ---- */
  function targets() {
    var ids = selectedIds();
    if (!ids.length && currentImage()) { ids = [currentImage().id]; }
    return ids;
  }

  function afterLabelling(ids, message) {
    say(message);
    loadCounts();
    loadGroups();
    // The page is re-read in place so the suggestions refreshed around new validations show too.
    $.each(ids, function (_, id) { reloadImage(id); });
    refreshSuggestedTiles();
  }

  function refreshSuggestedTiles() {
    $.each(state.page, function (_, image) {
      if (image.label_state === "predicted" || image.label_state === "unlabelled") { reloadImage(image.id); }
    });
  }

  function assign(ids, taxon, st) {
    if (!ids.length) { say("select images first", true); return $.Deferred().reject().promise(); }
    rememberTaxon(taxon);
    say("saving " + ids.length + "…");
    return api("POST", "/api/v1/labels/batch", { image_ids: ids, taxon: taxon, state: st || "validated" })
      .done(function (result) {
        afterLabelling(ids, (st === "dubious" ? "flagged " : "validated ") + result.image_ids.length + " as " + taxon);
      }).fail(function (xhr) { say(errorText(xhr), true); });
  }

  /* Validate or flag each image with the taxon it already carries, one call per taxon. */
  function confirmOwnLabels(ids, st) {
    var byTaxon = {}, skipped = 0;
    $.each(state.page, function (_, image) {
      if ($.inArray(image.id, ids) < 0) { return; }
      if (!image.label) { skipped += 1; return; }
      (byTaxon[image.label] = byTaxon[image.label] || []).push(image.id);
    });
    var calls = $.map(Object.keys(byTaxon), function (taxon) {
      return api("POST", "/api/v1/labels/batch", { image_ids: byTaxon[taxon], taxon: taxon, state: st });
    });
    if (!calls.length) { say("nothing to " + (st === "dubious" ? "flag" : "validate") + ": no label yet", true); return $.Deferred().reject().promise(); }
    return $.when.apply($, calls).done(function () {
      var n = ids.length - skipped;
      afterLabelling(ids, (st === "dubious" ? "flagged " : "validated ") + n + (skipped ? " (" + skipped + " without a label skipped)" : ""));
    }).fail(function (xhr) { say(errorText(xhr), true); });
  }

  function rememberTaxon(taxon) {
    state.lastTaxon = taxon;
    localStorage.setItem(LAST_TAXON_STORE, taxon);
  }

  function advance() {
    if (state.current >= 0 && state.current < state.page.length - 1) { moveTo(state.current + 1, false); }
  }

  $("#batch-assign").on("click", function () {
    var taxon = $.trim($("#batch-taxon").val());
    if (!taxon) { say("type a taxon first", true); $("#batch-taxon").trigger("focus"); return; }
    assign(selectedIds(), taxon, "validated");
  });
  $("#batch-dubious").on("click", function () { confirmOwnLabels(targets(), "dubious"); });
  $("#find-similar").on("click", function () { showSimilar(selectedIds()); });
  $("#panel-validate").on("click", function () { validateCurrent(); });
  $("#panel-dubious").on("click", function () { if (currentImage()) { confirmOwnLabels([currentImage().id], "dubious"); } });

  function validateCurrent() {
    var ids = targets();
    if (!ids.length) { return; }
    var single = ids.length === 1;
    confirmOwnLabels(ids, "validated").done(function () { if (single) { advance(); } });
  }

  function showSimilar(ids) {
    if (!ids.length) { say("select one or more images first", true); return; }
    state.mode = "similar";
    state.similarTo = ids.slice(0, 50);
    state.notLike = [];
    state.offset = 0;
    state.selected = {};
    loadPage();
  }

  $("#group-accept").on("click", function () {
    var taxon = $("#filter-suggested").val();
    if (!taxon) { return; }
    var body = { taxon: taxon, min_confidence: groupConfidence() };
    if (filters().project) { body.project = Number(filters().project); }
    $(this).prop("disabled", true);
    api("POST", "/api/v1/suggestions/accept", body).done(function (result) {
      say("validated " + result.image_ids.length + " × " + taxon);
      loadCounts();
      loadGroups();
      loadPage();
    }).fail(function (xhr) { say(errorText(xhr), true); showGroupAction(); });
  });

  $("#refresh-suggestions").on("click", function () {
    var $button = $(this).prop("disabled", true);
    say("computing suggestions…");
    var project = filters().project;
    api("POST", "/api/v1/suggestions/refresh" + (project ? "?project=" + project : "")).done(function (result) {
      if (!result.job.finished) { say("suggestions are being refreshed (job " + result.job.id + ")"); pollJobs(); return; }
      say(result.changed + " suggestions changed for " + result.images + " images (calibrated on " + result.calibrated_on + ")");
      refreshAll();
    }).fail(function (xhr) { say(errorText(xhr), true); }).always(function () { $button.prop("disabled", false); });
  });

  $("#label-form").on("submit", function (event) {
    event.preventDefault();
    var image = currentImage() || null;
    var taxon = $.trim($("#label-taxon").val());
    var id = image ? image.id : null;
    if (!id || !taxon) { return; }
    rememberTaxon(taxon);
    var $status = $("#label-status").removeClass("error").text("saving…");
    api("PUT", "/api/v1/images/" + id + "/label", { taxon: taxon }).done(function () {
      $status.text("saved");
      afterLabelling([id], "labelled #" + id + " " + taxon);
    }).fail(function (xhr) { $status.addClass("error").text(errorText(xhr)); });
  });

  /* ---- keyboard ---- */
  function typing(target) { return $(target).is("input, select, textarea"); }

  $(document).on("keydown", function (event) {
    if (!$("#help").prop("hidden")) {
      if (event.key === "Escape" || event.key === "?") { closeHelp(); event.preventDefault(); }
      return;
    }
    if (!$("#projects").prop("hidden")) {  // the grid's keys stay off while the dialog is open
      if (event.key === "Escape") { closeProjects(); event.preventDefault(); }
      return;
    }
    if (!$("#signin").prop("hidden") || typing(event.target) || event.altKey) { return; }
    var ctrl = event.ctrlKey || event.metaKey;
    if (ctrl && event.key.toLowerCase() === "a") { selectPage(); event.preventDefault(); return; }
    if (ctrl) { return; }
    var handled = true;
    switch (event.key) {
      case "j": case "ArrowRight": moveTo(state.current + 1, event.shiftKey); break;
      case "k": case "ArrowLeft": moveTo(state.current < 0 ? 0 : state.current - 1, event.shiftKey); break;
      case "x":
        var image = currentImage();
        if (image) { if (state.selected[image.id]) { delete state.selected[image.id]; } else { state.selected[image.id] = true; } paintSelection(); }
        break;
      case "v": validateCurrent(); break;
      case "d": confirmOwnLabels(targets(), "dubious"); break;
      case "a":
        if (state.lastTaxon) {
          var single = targets().length === 1;
          assign(targets(), state.lastTaxon, "validated").done(function () { if (single) { advance(); } });
        } else { say("no taxon used yet: type one first", true); }
        break;
      case "t": $("#batch-taxon").trigger("focus"); break;
      case "s": showSimilar(targets()); break;
      case "m": mark(targets(), "more"); break;
      case "n": mark(targets(), "not"); break;
      case "r": refine(); break;
      case "[": turnPage(-1); break;
      case "]": turnPage(1); break;
      case "?": openHelp(); break;
      case "Escape": state.selected = {}; paintSelection(); break;
      default: handled = false;
    }
    if (handled) { event.preventDefault(); }
  });

  function openHelp() { $("#help").prop("hidden", false); $("#close-help").trigger("focus"); }
  function closeHelp() { $("#help").prop("hidden", true); }
  $("#show-help").on("click", openHelp);
  $("#close-help").on("click", closeHelp);
  $("#help").on("click", function (event) { if (event.target === this) { closeHelp(); } });

  /* ---- projects and their grants (admins) ---- */
  function grantee(g) {
    if (g.everyone) { return "everyone"; }
    if (g.institution) { return g.institution + " (institution)"; }
    return (g.annotator || "annotator " + g.annotator_id) + " (person)";
  }

  function grantsSay(text, isError) { $("#grants-status").toggleClass("error", !!isError).text(text); }

  function loadGrants() {
    var project = $("#grants-project").val();
    if (!project) { return; }
    api("GET", "/api/v1/projects/" + project + "/grants").done(function (result) {
      var $list = $("#grants-list").empty();
      if (!result.data.length) {
        $list.append($("<tr>").append($("<td colspan='3' class='meta'>").text("No grants: only admins see this project.")));
      }
      $.each(result.data, function (_, g) {
        $list.append($("<tr>").append(
          $("<td>").text(grantee(g)),
          $("<td>").text(g.everyone && g.role === "admin" ? "their key's role" : g.role),
          $("<td>").append($("<button type='button' class='link revoke-grant'>").attr("data-grant-id", g.id).text("revoke"))));
      });
    }).fail(function (xhr) { grantsSay(errorText(xhr), true); });
  }

  function openProjects() {
    grantsSay("");
    $("#projects").prop("hidden", false);
    $.when(api("GET", "/api/v1/projects"), api("GET", "/api/v1/annotators")).done(function (projects, people) {
      var $project = $("#grants-project"), chosen = $project.val();
      $project.empty();
      $.each(projects[0].data, function (_, p) { $project.append($("<option>").val(p.id).text(p.name)); });
      if (chosen) { $project.val(chosen); }
      var $person = $("#grant-annotator").empty(), institutions = {};
      $.each(people[0].data, function (_, a) {
        $person.append($("<option>").val(a.id).text(a.name + (a.institution ? " · " + a.institution : "")));
        if (a.institution) { institutions[a.institution] = true; }
      });
      $("#grant-institutions").empty().append($.map(Object.keys(institutions).sort(), function (name) {
        return $("<option>").val(name);
      }));
      loadGrants();
    }).fail(function (xhr) { grantsSay(errorText(xhr), true); });
  }

  function closeProjects() { $("#projects").prop("hidden", true); loadProjects(); refreshAll(); }

  $("#show-projects").on("click", openProjects);
  $("#close-projects").on("click", closeProjects);
  $("#projects").on("click", function (event) { if (event.target === this) { closeProjects(); } });
  $("#grants-project").on("change", loadGrants);
  $("#grant-kind").on("change", function () {
    var kind = $(this).val();
    $("#grant-institution").prop("hidden", kind !== "institution");
    $("#grant-annotator").prop("hidden", kind !== "annotator");
  });

  $("#grant-form").on("submit", function (event) {
    event.preventDefault();
    var kind = $("#grant-kind").val(), body = { role: $("#grant-role").val() };
    if (kind === "everyone") { body.everyone = true; }
    else if (kind === "annotator") { body.annotator_id = Number($("#grant-annotator").val()); }
    else { body.institution = $.trim($("#grant-institution").val()); }
    api("PUT", "/api/v1/projects/" + $("#grants-project").val() + "/grants", body).done(function (g) {
      grantsSay(grantee(g) + " is now " + g.role + " here");
      $("#grant-institution").val("");
      loadGrants();
    }).fail(function (xhr) { grantsSay(errorText(xhr), true); });
  });

  $("#grants-list").on("click", ".revoke-grant", function () {
    var project = $("#grants-project").val();
    api("DELETE", "/api/v1/projects/" + project + "/grants/" + $(this).attr("data-grant-id"), undefined,
        { dataType: "text" }).done(function () {
      grantsSay("grant revoked");
      loadGrants();
    }).fail(function (xhr) { grantsSay(errorText(xhr), true); });
  });

  $("#project-form").on("submit", function (event) {
    event.preventDefault();
    // Open: the default grant (everyone at their key's role); closed: no grant until one is added.
    var body = { name: $.trim($("#project-name").val()) };
    if (!$("#project-open").prop("checked")) { body.grants = []; }
    api("POST", "/api/v1/projects", body).done(function (p) {
      $("#project-name").val("");
      grantsSay("project " + p.name + " created");
      $("#grants-project").append($("<option>").val(p.id).text(p.name)).val(p.id);
      loadGrants();
    }).fail(function (xhr) { grantsSay(errorText(xhr), true); });
  });

  /* ---- upload, in batches with a progress counter ---- */
  $("#upload-files").on("change", function () {
    var files = Array.prototype.slice.call(this.files);
    if (!files.length) { return; }
    var batches = [];
    for (var i = 0; i < files.length; i += UPLOAD_BATCH) { batches.push(files.slice(i, i + UPLOAD_BATCH)); }
    var done = { stored: 0, duplicate: 0, failed: 0, sent: 0 };
    var $progress = $("#upload-progress").removeClass("error");
    var input = this;

    function report(batchNo) {
      $progress.text("batch " + batchNo + "/" + batches.length + " · " + done.sent + "/" + files.length +
        " sent · " + done.stored + " new, " + done.duplicate + " known, " + done.failed + " refused");
    }

    function send(index) {
      if (index >= batches.length) {
        report(batches.length);
        input.value = "";
        state.offset = 0;
        refreshAll();
        return;
      }
      report(index + 1);
      var form = new FormData();
      $.each(batches[index], function (_, file) { form.append("files", file, file.name); });
      $.each(["label", "instrument"], function (_, name) {
        var value = $.trim($("#upload-" + name).val());
        if (value) { form.append(name, value); }
      });
      api("POST", "/api/v1/images", undefined, { data: form, processData: false, contentType: false })
        .always(function (body, _status, xhr) {
          var result = body && body.data ? body : (body && body.responseJSON) || null;
          done.sent += batches[index].length;
          if (result && result.data) {
            $.each(result.data, function (_, entry) {
              if (entry.error) { done.failed += 1; } else if (entry.duplicate) { done.duplicate += 1; } else { done.stored += 1; }
            });
            send(index + 1);
          } else {
            done.failed += batches[index].length;
            report(index + 1);
            $progress.addClass("error").append(" · stopped: " + errorText(body.status ? body : xhr));
            input.value = "";
            refreshAll();
          }
        });
    }
    send(0);
  });

  /* ---- start ---- */
  function refreshAll() {
    updateExportLinks();
    loadCounts();
    loadGroups();
    loadPage();
    $.each(refreshHooks, function (_, hook) { hook(); });
  }

  function showView(name) {
    state.mode = name;
    state.offset = 0;
    state.selected = {};
    loadPage();
  }

  // What the other view files may use; they run after this file, once the page is ready.
  window.Nauplius = {
    api: api, say: say, errorText: errorText, filters: filters, selectedIds: selectedIds,
    currentImage: currentImage, state: state, loadPage: loadPage, loadCounts: loadCounts,
    pollJobs: pollJobs, refreshAll: refreshAll, showView: showView, refine: refine,
    addView: function (name, view) { views[name] = view; },
    onStart: function (hook) { startHooks.push(hook); },      // after each sign-in
    onRefresh: function (hook) { refreshHooks.push(hook); }   // after labelling and on refresh
  };

  var started = false;
  function start() {
    if (!started) {
      started = true;
      attachPicker($("#batch-taxon"));
      attachPicker($("#label-taxon"));
      setInterval(pollJobs, 5000);
    }
    loadTaxa();
    loadProjects();
    refreshAll();
    pollJobs();
    $.each(startHooks, function (_, hook) { hook(); });
  }

  paintSelection();
  // Signed in once the other view files have registered their hooks (they run on ready, after this).
  setTimeout(function () { signIn(state.key); }, 0);
});
