(function () {
  "use strict";
  var statusBoxes = Array.prototype.slice.call(document.querySelectorAll('#filters input[name="status"]'));
  var nodeSelect = document.getElementById("node-filter");
  var filterable = Array.prototype.slice.call(document.querySelectorAll("[data-filterable]"));
  var shown = document.getElementById("shown");
  var search = document.getElementById("node-search");

  function concerns(el, node) {
    if (!node) { return true; }
    if (el.dataset.nodes !== undefined) { return el.dataset.nodes.split("\n").indexOf(node) >= 0; }
    return el.dataset.node === node || el.dataset.peer === node;
  }

  function applyFilters() {
    var wanted = {};
    statusBoxes.forEach(function (box) { wanted[box.value] = box.checked; });
    var node = nodeSelect.value;
    var visible = 0;
    filterable.forEach(function (el) {
      var keep = wanted[el.dataset.status] !== false && concerns(el, node);
      el.classList.toggle("filtered-out", !keep);
      if (keep && el.classList.contains("result")) { visible += 1; }
    });
    var text = search.value.trim().toLowerCase();
    document.querySelectorAll("#node-matrix tbody tr").forEach(function (row) {
      var keep = (!node || row.dataset.node === node) &&
        (!text || row.dataset.node.toLowerCase().indexOf(text) >= 0) &&
        Array.prototype.some.call(row.querySelectorAll("td"), function (td) {
          return wanted[td.dataset.status] !== false;
        });
      row.classList.toggle("filtered-out", !keep);
    });
    shown.textContent = visible + " of " + document.querySelectorAll("tr.result").length + " results shown";
  }

  function clearFilters() {
    statusBoxes.forEach(function (box) { box.checked = true; });
    nodeSelect.value = "";
    search.value = "";
    applyFilters();
  }

  // A jump from the matrix or a failure must land on a visible row, whatever is filtered.
  function onJump(event) {
    var link = event.target.closest("a.jump");
    if (!link) { return; }
    var target = document.getElementById(link.getAttribute("href").slice(1));
    if (target && target.classList.contains("filtered-out")) { clearFilters(); }
  }

  function cellValue(row, index) {
    var cell = row.cells[index];
    return cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
  }

  function sortBy(th) {
    var table = th.closest("table");
    var body = table.tBodies[0];
    var index = th.cellIndex;
    var numeric = th.dataset.sort === "num";
    var descending = th.getAttribute("aria-sort") === "ascending";
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y, undefined, { numeric: true });
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  // Printing shows every node section open, then puts back what the reader had.
  var closedBeforePrint = [];
  window.addEventListener("beforeprint", function () {
    closedBeforePrint = Array.prototype.filter.call(document.querySelectorAll("details"), function (d) { return !d.open; });
    closedBeforePrint.forEach(function (d) { d.open = true; });
  });
  window.addEventListener("afterprint", function () {
    closedBeforePrint.forEach(function (d) { d.open = false; });
    closedBeforePrint = [];
  });

  statusBoxes.forEach(function (box) { box.addEventListener("change", applyFilters); });
  nodeSelect.addEventListener("change", applyFilters);
  search.addEventListener("input", applyFilters);
  document.addEventListener("click", onJump);
  document.querySelectorAll("table.sortable thead th").forEach(function (th) {
    th.addEventListener("click", function () { sortBy(th); });
  });
  applyFilters();
})();
