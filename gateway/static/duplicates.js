/* duplicates view: registered with window.Nauplius (app.js). jQuery only. */
$(function () {
  "use strict";
});
