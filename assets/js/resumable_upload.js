// Resumable browser upload for the Importações page (app/pages/imports.py).
//
// The page opens an upload session on the server and hands this script the session's URL and a grant
// valid for that session only (app/importing/upload_grants.py). The file is sent in 8 MB slices with
// PATCH + Upload-Offset (the REST protocol of /api/imports/uploads); after a dropped connection the
// script asks the server where it stopped (GET) and goes on from there, so a 10 GB file never starts
// over. Progress goes straight to the page's progress elements; when the upload ends (or gives up) the
// script clicks the page's hidden "done" button, whose handler reads `window.crmUploads.result()`.
(function () {
  "use strict";
  // Loaded twice when the page asked for it on demand before its own <script> tag arrived: the first copy
  // holds the upload in flight, so the second must not replace it.
  if (window.crmUploads) return;
  const CHUNK = 8 * 1024 * 1024;
  let current = { aborted: false, result: null };

  function describe(inputId) {
    const input = document.getElementById(inputId);
    const file = input && input.files && input.files[0];
    return file ? { name: file.name, size: file.size } : null;
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  function show(cfg, sent, total, note) {
    const pct = total > 0 ? Math.floor((100 * sent) / total) : 100;
    const bar = document.getElementById(cfg.barId);
    if (bar) bar.style.width = pct + "%";
    const text = document.getElementById(cfg.progressId);
    if (text) {
      const mb = (n) => (n / (1024 * 1024)).toLocaleString("pt-BR", { maximumFractionDigits: 1 });
      text.textContent = (note ? note + " " : "") + mb(sent) + " de " + mb(total) + " MB (" + pct + "%)";
    }
  }

  // Same server in production (one port serves the page and the API): a relative URL. In development the
  // page comes from the frontend dev server on another port, so the API's own origin is used.
  function endpoint(cfg) {
    try {
      const api = new URL(cfg.api);
      if (api.port !== window.location.port) return api.origin + cfg.url;
    } catch (e) {
      /* no API origin given: same server */
    }
    return cfg.url;
  }

  async function serverOffset(cfg) {
    const response = await fetch(endpoint(cfg), { headers: { "Upload-Token": cfg.token }, cache: "no-store" });
    if (!response.ok) throw new Error(await message(response));
    return (await response.json()).offset;
  }

  async function message(response) {
    try {
      const body = await response.json();
      return body.detail || body.message || "HTTP " + response.status;
    } catch (e) {
      return "HTTP " + response.status;
    }
  }

  // 4xx answers other than a wrong offset, a timeout or a rate limit will not get better by retrying.
  function fatal(status) {
    return status >= 400 && status < 500 && ![408, 409, 429].includes(status);
  }

  async function run(file, cfg) {
    let offset = 0;
    let failures = 0;
    show(cfg, 0, file.size, "");
    while (offset < file.size || file.size === 0) {
      if (current.aborted) throw new Error("Envio cancelado.");
      const end = Math.min(offset + CHUNK, file.size);
      let response;
      try {
        response = await fetch(endpoint(cfg), {
          method: "PATCH",
          headers: {
            "Upload-Token": cfg.token,
            "Upload-Offset": String(offset),
            "Content-Type": "application/offset+octet-stream",
          },
          body: file.slice(offset, end),
        });
      } catch (networkError) {
        response = null;
      }
      if (response && response.ok) {
        offset = (await response.json()).offset;
        failures = 0;
        show(cfg, offset, file.size, "");
        if (file.size === 0) break;
        continue;
      }
      if (response && fatal(response.status)) throw new Error(await message(response));
      failures += 1;
      if (failures > cfg.retries) {
        throw new Error("A conexão caiu e não voltou; escolha o arquivo de novo para continuar.");
      }
      show(cfg, offset, file.size, "Conexão instável, retomando…");
      await sleep(Math.min(500 * 2 ** failures, 15000));
      try {
        offset = await serverOffset(cfg); // where the server actually stopped
      } catch (e) {
        /* still offline: the next attempt asks again */
      }
    }
  }

  function send(inputId, cfg) {
    const input = document.getElementById(inputId);
    const file = input && input.files && input.files[0];
    current = { aborted: false, result: null };
    const finish = (result) => {
      current.result = result;
      const done = document.getElementById(cfg.doneId);
      if (done) done.click();
    };
    if (!file) {
      finish({ ok: false, error: "Escolha um arquivo CSV ou XLSX." });
      return true;
    }
    run(file, cfg).then(
      () => finish({ ok: true }),
      (error) => finish({ ok: false, error: String((error && error.message) || error) }),
    );
    return true;
  }

  window.crmUploads = {
    describe: describe,
    send: send,
    abort: () => {
      current.aborted = true;
      return true;
    },
    result: () => current.result,
  };
})();
