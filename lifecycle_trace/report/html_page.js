(function () {
  "use strict";
  // Sortable tables: click a header; numbers sort as numbers (data-sort wins over the text).
  function key(cell) {
    var raw = cell.getAttribute("data-sort");
    if (raw === null) { raw = cell.textContent.replace(/[,$%]|\sms$/g, ""); }
    var number = parseFloat(raw);
    return isNaN(number) ? raw.toLowerCase() : number;
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, column) {
      th.tabIndex = 0;  // sortable from the keyboard too
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); th.click(); }
      });
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        rows.sort(function (a, b) {
          var x = key(a.cells[column]), y = key(b.cells[column]);
          if (x === y) { return 0; }
          var order = typeof x === typeof y ? (x < y ? -1 : 1) : (typeof x === "number" ? -1 : 1);
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  // Findings: filter by kind and free text; click a row to highlight its environment's lane.
  var filter = document.getElementById("finding-filter");
  var search = document.getElementById("finding-search");
  var shown = document.getElementById("findings-shown");
  var lanes = document.querySelectorAll("#timeline .lane");
  function apply() {
    var kind = filter ? filter.value : "";
    var text = search ? search.value.toLowerCase() : "";
    var count = 0;
    Array.prototype.forEach.call(document.querySelectorAll("#findings-table tbody tr"), function (row) {
      var visible = (!kind || row.getAttribute("data-kind") === kind) &&
        (!text || row.textContent.toLowerCase().indexOf(text) >= 0);
      row.hidden = !visible;
      if (visible) { count += 1; }
    });
    if (shown) { shown.textContent = String(count); }
  }
  if (filter) { filter.addEventListener("change", apply); }
  if (search) { search.addEventListener("input", apply); }
  Array.prototype.forEach.call(document.querySelectorAll("#findings-table tbody tr"), function (row) {
    row.addEventListener("click", function () {
      var environment = row.getAttribute("data-environment");
      Array.prototype.forEach.call(lanes, function (lane) {
        var match = lane.getAttribute("data-environment") === environment;
        lane.classList.toggle("highlight", match);
        if (match && lane.scrollIntoView) { lane.scrollIntoView({block: "center"}); }
      });
    });
  });
  apply();
  document.documentElement.setAttribute("data-ready", "1");
})();
