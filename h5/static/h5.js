// The feedback form's small helpers: photo checks before upload, one tap sends once, and a form without a
// photo goes as a plain urlencoded body (the server takes those on its fast path, h5/fastpath.py).
(function () {
  var form = document.getElementById("fb");
  if (!form) return;
  var input = document.getElementById("photos");
  var note = document.getElementById("photo-note");
  var send = document.getElementById("send");
  var MAX = 10 * 1024 * 1024;
  function check() {
    var files = input.files || [];
    if (files.length > 3) return "最多选择3张照片";
    for (var i = 0; i < files.length; i++) {
      if (files[i].size > MAX) return "第" + (i + 1) + "张照片超过10MB";
    }
    return files.length ? "已选择" + files.length + "张照片" : "";
  }
  input.addEventListener("change", function () { note.textContent = check(); });
  form.addEventListener("submit", function (e) {
    var problem = check();
    if (problem && problem.indexOf("已选择") !== 0) { e.preventDefault(); note.textContent = problem; return; }
    form.enctype = (input.files && input.files.length) ? "multipart/form-data" : "application/x-www-form-urlencoded";
    send.disabled = true;
    send.textContent = "正在提交…";
  });
  window.addEventListener("pageshow", function () { send.disabled = false; send.textContent = "提交评价"; });
})();
