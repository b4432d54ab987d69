// The peer's page: every button of the source systems' windows, each one
// a POST to the program, which runs the very peer method its shell runs.
"use strict";

const $ = (id) => document.getElementById(id);
const log = new LogPanel($("log"), $("show-trace"));
let sequence = null;
/** Transfers by number: {row, state}. */
const transfers = new Map();
/** Who waits for a transfer to end, by number (the test hook). */
const transferWaiters = new Map();

// --- the state: who we are, our files, the other peers -------------------

const refresh = App.refresher(async () => {
  const state = await App.get("/api/state");
  document.title = `${state.id}: peer`;
  $("title").textContent = state.id;
  $("addr").textContent = state.addr;
  const joined = $("joined");
  joined.textContent = state.joined ? "joined the tracker" : "not joined";
  joined.className = `badge ${state.joined ? "good" : "bad"}`;
  // Why not: the words the peer's log and its requests give.
  $("why-not-joined").textContent = state.why_not_joined || "";
  $("why-not-joined").hidden = state.joined;
  if (!sequence) sequence = new Sequence($("diagram"), state.id);
  showFiles(state);
  showPeers(state.peers);
  for (const transfer of state.transfers) showTransfer(transfer, false);
});

function showFiles(state) {
  const table = $("files");
  const rows = state.files.map((file) =>
    App.el(
      "tr",
      {},
      App.el("td", {}, file.name),
      App.el("td", { class: "num" }, `${file.size} B`),
      App.el("td", {}, file.date),
      App.el(
        "td",
        {},
        App.el(
          "span",
          { class: `mark ${file.announced ? "on" : "off"}` },
          file.announced ? "announced" : "served only",
        ),
      ),
    ),
  );
  const head = App.el(
    "tr",
    {},
    App.el("th", {}, "name"),
    App.el("th", {}, "size"),
    App.el("th", {}, "date"),
    App.el("th", {}, "to the tracker"),
  );
  table.replaceChildren(head, ...rows);
  if (state.folder_error) App.say(state.folder_error, true);
  fillSelect($("upload-name"), state.files.map((file) => [file.name, file.name]));
}

function showPeers(peers) {
  fillSelect($("peer-select"), peers.map((peer) => [peer.id, `${peer.id} (${peer.addr})`]));
}

/** Replaces a select's options, keeping the choice if it is still there. */
function fillSelect(select, options) {
  const chosen = select.value;
  select.replaceChildren(...options.map(([value, text]) => App.el("option", { value }, text)));
  if (options.some(([value]) => value === chosen)) select.value = chosen;
}

// --- search, download, fetch ---------------------------------------------

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("search-name").value.trim();
  App.act(async () => {
    App.say(`searching for ${name}…`);
    const found = await App.post("/api/search", { name });
    showHolders(found);
    App.say(`${found.holders.length} peer(s) have ${name}`);
  });
});

// --- keyword matches as the name is typed (FIND) ---------------------------

/** How long typing must pause before the tracker is asked: one FIND per
    pause, not one per key. */
const FIND_DEBOUNCE_MS = 300;
let findTimer = null;
/** The words of the latest FIND asked, so that a late answer to older
    words is not shown over a newer one. */
let findAsked = "";

$("search-name").addEventListener("input", () => {
  clearTimeout(findTimer);
  findTimer = setTimeout(findMatches, FIND_DEBOUNCE_MS);
});

/** Who waits for the next keyword matches shown (the test hook). */
let matchesShown = null;

async function findMatches() {
  const words = $("search-name").value.trim();
  findAsked = words;
  const box = $("matches");
  if (!words) {
    box.replaceChildren();
    return;
  }
  try {
    const found = await App.get("/api/find", { words });
    if (words === findAsked) showMatches(found);
  } catch (error) {
    if (words === findAsked) box.replaceChildren(App.el("p", { class: "empty" }, error.message));
  }
  if (words === findAsked) matchesShown?.();
}

/** The names the tracker's FIND gave; a click searches that name. */
function showMatches(found) {
  const box = $("matches");
  const items = found.matches.map((match) =>
    App.el(
      "li",
      {},
      App.el(
        "button",
        {
          type: "button",
          class: "link",
          title: `search for ${match.name}`,
          onclick: () => {
            $("search-name").value = match.name;
            $("search").click();
          },
        },
        match.name,
      ),
      ` ${match.size} B at ${match.id || match.addr}`,
    ),
  );
  const said = found.note
    ? found.note
    : found.matches.length === 0
      ? `no announced name holds ${found.words.join(" and ")}`
      : `${found.matches.length} announced file(s) hold ${found.words.join(" and ")}:`;
  box.replaceChildren(App.el("p", { class: "empty" }, said), App.el("ul", { id: "matches-list" }, ...items));
}

function showHolders(found) {
  const box = $("holders");
  if (found.holders.length === 0) {
    box.replaceChildren(App.el("p", { class: "empty" }, `nobody shares ${found.name}`));
    return;
  }
  const head = App.el(
    "tr",
    {},
    ...["#", "holder", "type", "size", "date", ""].map((text) => App.el("th", {}, text)),
  );
  const rows = found.holders.map((holder, index) =>
    App.el(
      "tr",
      {},
      App.el("td", {}, String(index + 1)),
      App.el("td", {}, holder.id ? `${holder.id} (${holder.addr})` : holder.addr),
      App.el("td", {}, holder.type),
      App.el("td", { class: "num" }, `${holder.size} B`),
      App.el("td", {}, holder.date),
      App.el(
        "td",
        {},
        holder.self
          ? App.el("span", { class: "empty" }, "this peer")
          : App.el(
              "button",
              {
                type: "button",
                class: "download",
                onclick: () => startTransfer("/api/download", { name: found.name, from: holder.addr }),
              },
              "Download from this peer",
            ),
      ),
    ),
  );
  const fetchAll = App.el(
    "button",
    { type: "button", id: "fetch-all", onclick: () => startTransfer("/api/fetch", { name: found.name }) },
    "Fetch from all holders",
  );
  box.replaceChildren(App.el("table", { id: "holders-table" }, head, ...rows), App.el("div", { class: "row" }, fetchAll));
}

/** Starts a download, fetch or upload; its bar shows in Transfers. */
function startTransfer(path, params) {
  return App.act(async () => {
    const started = await App.post(path, params);
    App.say(`transfer ${started.transfer} started`);
    App.lastTransfer = started.transfer;
    return started.transfer;
  });
}

// --- transfers -----------------------------------------------------------

/** Shows a transfer; `live` when it comes from the event stream (then
    its end is said, and the files shown again). */
function showTransfer(transfer, live) {
  let entry = transfers.get(transfer.id);
  if (!entry) {
    const row = App.el(
      "div",
      { class: "transfer", id: `transfer-${transfer.id}` },
      App.el("div", { class: "label" }),
      App.el("div", { class: "bar" }, App.el("div", { class: "fill" })),
      App.el("div", { class: "message" }),
      App.el("ul", { class: "details" }),
    );
    const box = $("transfers");
    box.querySelector(".empty")?.remove();
    box.prepend(row);
    entry = { row };
    transfers.set(transfer.id, entry);
  }
  const ended = entry.state === "running" || entry.state === undefined;
  entry.state = transfer.state;
  const { row } = entry;
  row.className = `transfer ${transfer.state}`;
  row.dataset.state = transfer.state;
  row.querySelector(".label").textContent = transfer.label;
  const percent = transfer.total > 0 ? Math.floor((transfer.done * 100) / transfer.total) : 0;
  row.querySelector(".fill").style.width = `${transfer.state === "running" ? percent : 100}%`;
  row.querySelector(".message").textContent =
    transfer.state === "running"
      ? transfer.total > 0
        ? `${percent}% (${transfer.done} of ${transfer.total} bytes)`
        : "working…"
      : transfer.message;
  row
    .querySelector(".details")
    .replaceChildren(
      ...(transfer.details || []).map((detail) => App.el("li", { class: detail.kind, title: detail.text }, detail.text)),
    );
  if (transfer.state !== "running" && ended) {
    transferWaiters.get(transfer.id)?.(transfer);
    if (live) {
      App.say(transfer.message, transfer.state === "failed");
      refresh();
    }
  }
}

/** Resolves when transfer `id` ends (the test hook waits with it). */
function transferEnded(id) {
  const entry = transfers.get(id);
  if (entry && entry.state !== "running") {
    return Promise.resolve({ state: entry.state, message: entry.row.querySelector(".message").textContent });
  }
  return new Promise((resolve) => transferWaiters.set(id, resolve));
}

// --- other peers: list, upload, ping --------------------------------------

$("list").addEventListener("click", () =>
  App.act(async () => {
    const peer = $("peer-select").value;
    const listed = await App.post("/api/list", { peer });
    const rows = listed.files.map((file) =>
      App.el(
        "tr",
        {},
        App.el("td", {}, file.name),
        App.el("td", {}, file.type),
        App.el("td", { class: "num" }, `${file.size} B`),
        App.el("td", {}, file.date),
      ),
    );
    $("peer-files").replaceChildren(
      App.el("p", {}, `${listed.peer} serves ${listed.files.length} file(s):`),
      App.el("table", { id: "peer-files-table" }, ...rows),
    );
    App.say(`listed ${listed.peer}`);
  }),
);

$("upload").addEventListener("click", () =>
  startTransfer("/api/upload", { name: $("upload-name").value, peer: $("peer-select").value }),
);

const ping = (peer) =>
  App.act(async () => {
    const answer = await App.post("/api/ping", { peer });
    App.say(answer.text);
  });
$("ping").addEventListener("click", () => ping($("peer-select").value));
$("ping-tracker").addEventListener("click", () => ping("tracker"));

// --- publish: the chosen file is the request's body, streamed -------------

$("publish-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const file = $("publish-file").files[0];
  if (!file) {
    App.say("choose a file to publish first", true);
    return;
  }
  App.act(async () => {
    App.say(`publishing ${file.name} (${file.size} bytes)…`);
    const answer = await App.post("/api/publish", { name: file.name }, file);
    App.say(answer.text);
    $("publish-file").value = "";
    refresh();
  });
});

// --- the diagram and the log -----------------------------------------------

$("pause").addEventListener("click", () => {
  sequence.setPaused(!sequence.paused);
  $("pause").textContent = sequence.paused ? "Resume" : "Pause";
});
$("clear-diagram").addEventListener("click", () => sequence.clear());
$("clear-log").addEventListener("click", () => log.clear());

// --- start -----------------------------------------------------------------

async function start() {
  await refresh();
  await App.connect({
    log(line) {
      log.add(line);
      if (line.kind === "trace") sequence.add(line);
      else refresh(); // an event: a join, a file arrived, ...
    },
    progress: (transfer) => showTransfer(transfer, true),
    // Why the peer is not joined changed (a try to rejoin failed another
    // way, or it joined): read the state again.
    joining: () => refresh(),
  });
  await runAutotest(async (step, argument) => {
    switch (step) {
      case "search":
        $("search-name").value = argument;
        $("search").click();
        await App.busy;
        return;
      case "type": {
        // Types the words as a user does, and waits for the matches.
        const shown = new Promise((resolve) => (matchesShown = resolve));
        $("search-name").value = argument;
        $("search-name").dispatchEvent(new Event("input"));
        await shown;
        return;
      }
      case "download": {
        const buttons = document.querySelectorAll("#holders button.download");
        const button = buttons[Number(argument) - 1];
        if (!button) throw new Error(`there is no download button ${argument} (${buttons.length} shown)`);
        button.click();
        const id = await App.busy;
        const ended = await transferEnded(id);
        if (ended.state !== "done") throw new Error(`the download failed: ${ended.message}`);
        await refresh();
        return;
      }
      default:
        throw new Error(`unknown step ${step}`);
    }
  });
}

start().catch((error) => App.say(error.message, true));
