/* Nauplius frontend: upload, browse, inspect, label. jQuery only. */
$(function () {
  "use strict";

  var PAGE_SIZE = 48;
  var UPLOAD_BATCH = 16;
  var state = { offset: 0, count: 0, selected: null };

  function errorText(xhr) {
    var body = xhr.responseJSON;
    if (body && typeof body.detail === "string") { return body.detail; }
    if (body && body.detail) { return JSON.stringify(body.detail); }
    return xhr.status ? "HTTP " + xhr.status : "network error";
  }

  function labelSpan(label) {
    return label
      ? $("<span class='label'>").text(label)
      : $("<span class='label unlabelled'>").text("unlabelled");
  }

  /* ---- model ---- */
  $.getJSON("/api/v1/model").done(function (card) {
    $("#model-name").text("model: " + card.name + " (" + card.output_dim + "-d)");
  });

  /* ---- grid ---- */
  function loadPage() {
    $.getJSON("/api/v1/images", { limit: PAGE_SIZE, offset: state.offset })
      .done(function (page) {
        state.count = page.count;
        var $grid = $("#grid").empty();
        if (!page.data.length) {
          $grid.append($("<p class='empty'>").text("No images yet. Add some with the button above."));
        }
        $.each(page.data, function (_, image) {
          var $tile = $("<button type='button' class='tile'>")
            .attr("data-id", image.id)
            .attr("aria-label", "Image " + image.id + ": " + (image.label || "unlabelled"))
            .toggleClass("selected", image.id === state.selected)
            .append($("<img loading='lazy' alt=''>").attr("src", image.thumbnail_url))
            .append(labelSpan(image.label));
          $grid.append($tile);
        });
        var pages = Math.max(1, Math.ceil(state.count / PAGE_SIZE));
        var page_no = Math.floor(state.offset / PAGE_SIZE) + 1;
        $("#page-info").text("page " + page_no + " of " + pages + " · " + state.count + " images");
        $("#prev-page").prop("disabled", state.offset === 0);
        $("#next-page").prop("disabled", state.offset + PAGE_SIZE >= state.count);
      })
      .fail(function (xhr) {
        $("#grid").empty().append($("<p class='empty'>").text("Could not load images: " + errorText(xhr)));
      });
  }

  $("#prev-page").on("click", function () { state.offset = Math.max(0, state.offset - PAGE_SIZE); loadPage(); });
  $("#next-page").on("click", function () { state.offset += PAGE_SIZE; loadPage(); });
  $("#grid").on("click", ".tile", function () { openImage(Number($(this).attr("data-id"))); });

  /* ---- side panel ---- */
  function openImage(id) {
    state.selected = id;
    $(".tile").removeClass("selected").filter("[data-id='" + id + "']").addClass("selected");
    $(".layout").addClass("with-panel");
    $("#panel").prop("hidden", false);
    $("#label-status").text("").removeClass("error");
    $.getJSON("/api/v1/images/" + id).done(function (image) {
      $("#panel-image").attr("src", image.file_url).attr("alt", "Image " + image.id);
      showLabel(image);
      var meta = [image.filename, image.width + "×" + image.height + " px", image.instrument, image.sample];
      $("#panel-meta").text($.grep(meta, Boolean).join(" · "));
    }).fail(function (xhr) { $("#panel-label").text(errorText(xhr)); });
    loadSimilar(id);
    loadHistory(id);
  }

  function showLabel(image) {
    $("#panel-label").replaceWith(
      labelSpan(image.label).attr("id", "panel-label").addClass("panel-label")
        .append(image.label_state ? $("<span class='meta'>").text(" (" + image.label_state + ")") : null)
    );
    $("#label-taxon").val(image.label || "");
  }

  function loadSimilar(id) {
    var $list = $("#similar").empty().append($("<li class='meta'>").text("searching…"));
    $.getJSON("/api/v1/images/" + id + "/similar", { k: 12 }).done(function (result) {
      $list.empty();
      if (!result.data.length) { $list.append($("<li class='meta'>").text("no neighbours yet")); }
      $.each(result.data, function (_, n) {
        $list.append($("<li>").append(
          $("<button type='button'>").attr("data-id", n.id)
            .attr("aria-label", "Open image " + n.id + ", " + (n.label || "unlabelled") + ", score " + n.score.toFixed(3))
            .append($("<img loading='lazy' alt=''>").attr("src", n.thumbnail_url))
            .append(labelSpan(n.label))
            .append($("<span class='score'>").text(n.score.toFixed(3)))
        ));
      });
    }).fail(function (xhr) { $list.empty().append($("<li class='meta'>").text(errorText(xhr))); });
  }

  function loadHistory(id) {
    var $list = $("#history").empty();
    $.getJSON("/api/v1/images/" + id + "/labels").done(function (result) {
      if (!result.data.length) { $list.append($("<li class='meta'>").text("never labelled")); }
      $.each(result.data, function (_, entry) {
        var who = [entry.annotator, entry.state].filter(Boolean).join(", ");
        $list.append($("<li>")
          .append($("<strong>").text(entry.taxon || entry.label || "?"))
          .append(who ? " — " + who : "")
          .append(entry.created_at ? $("<div class='when'>").text(new Date(entry.created_at).toLocaleString()) : null));
      });
    }).fail(function (xhr) { $list.append($("<li class='meta'>").text(errorText(xhr))); });
  }

  $("#similar").on("click", "button", function () { openImage(Number($(this).attr("data-id"))); });
  $("#close-panel").on("click", function () {
    state.selected = null;
    $("#panel").prop("hidden", true);
    $(".layout").removeClass("with-panel");
    $(".tile").removeClass("selected");
  });

  $("#label-form").on("submit", function (event) {
    event.preventDefault();
    var id = state.selected;
    var taxon = $.trim($("#label-taxon").val());
    if (!id || !taxon) { return; }
    var $status = $("#label-status").removeClass("error").text("saving…");
    $.ajax({
      url: "/api/v1/images/" + id + "/label", method: "PUT", contentType: "application/json",
      data: JSON.stringify({ taxon: taxon }), dataType: "json"
    }).done(function (image) {
      $status.text("saved");
      showLabel(image);
      loadHistory(id);
      $(".tile[data-id='" + id + "'] .label").replaceWith(labelSpan(image.label));
    }).fail(function (xhr) { $status.addClass("error").text(errorText(xhr)); });
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
        loadPage();
        return;
      }
      report(index + 1);
      var form = new FormData();
      $.each(batches[index], function (_, file) { form.append("files", file, file.name); });
      $.each(["label", "instrument"], function (_, name) {
        var value = $.trim($("#upload-" + name).val());
        if (value) { form.append(name, value); }
      });
      $.ajax({ url: "/api/v1/images", method: "POST", data: form, processData: false, contentType: false, dataType: "json" })
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
            loadPage();
          }
        });
    }
    send(0);
  });

  loadPage();
});
