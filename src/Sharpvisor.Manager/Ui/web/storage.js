// The storage page (#/storage): the daemon's pools (each storage root) with their room, and the images of the pool
// chosen: format, sizes, backing file and the VMs using each, a download link, delete, upload and new image.
import { api, ApiError, getToken, streamUrl } from "./api.js";
import { bytes } from "./format.js";
import { $, text, isCurrent, refused } from "./nav.js";

let pools = [];

/** Small sizes in KiB (an overlay's metadata), the rest as everywhere else. */
const size = (value) => (value != null && value < 1048576 ? `${Math.round(value / 1024)} KiB` : bytes(value));

function cell(label, content) {
  const td = document.createElement("td");
  td.dataset.label = label;
  td.append(content);
  return td;
}

const chosenPool = () => $("pool-select").value;
const imagesPath = (pool, image) =>
  `pools/${encodeURIComponent(pool)}/images${image ? `/${encodeURIComponent(image)}` : ""}`;

/** Reads the pools and the chosen pool's images; answers for an earlier page are dropped. */
export async function loadStorage(page) {
  try {
    const answer = await api("GET", "pools");
    if (!isCurrent(page)) return;
    pools = answer;
    renderPools();
    await loadImages(page);
  } catch (error) {
    if (isCurrent(page) && !refused(error)) $("storage-message").textContent = error.message;
  }
}

function renderPools() {
  const rows = $("pool-rows");
  rows.replaceChildren(...pools.map((pool) => {
    const tr = document.createElement("tr");
    tr.append(cell("Pool", text("strong", pool.name)), cell("Images", String(pool.imageCount)),
      cell("Free", `${bytes(pool.freeBytes)} of ${bytes(pool.totalBytes)}`), cell("Directory", text("code", pool.path)));
    return tr;
  }));
  const select = $("pool-select");
  const previous = select.value;
  select.replaceChildren(...pools.map((pool) => { const option = text("option", pool.name); option.value = pool.name; return option; }));
  if (pools.some((pool) => pool.name === previous)) select.value = previous;
}

async function loadImages(page) {
  const pool = chosenPool();
  if (!pool) return;
  const images = await api("GET", imagesPath(pool));
  if (!isCurrent(page) || pool !== chosenPool()) return;
  $("image-empty").hidden = images.length > 0;
  $("image-rows").replaceChildren(...images.map((image) => imageRow(pool, image, page)));
  const backing = $("image-backing");
  const kept = backing.value;
  backing.replaceChildren(text("option", "none (an empty image)"),
    ...images.map((image) => { const option = text("option", image.name); option.value = image.name; return option; }));
  backing.options[0].value = "";
  if (images.some((image) => image.name === kept)) backing.value = kept;
}

function imageRow(pool, image, page) {
  const tr = document.createElement("tr");
  tr.dataset.image = image.name;
  const download = text("a", "Download");
  // A link, so the browser streams the file to disk itself; it cannot send the token as a header.
  download.href = streamUrl(`${imagesPath(pool, image.name)}/content`);
  download.setAttribute("download", image.name);
  const remove = text("button", "Delete");
  remove.type = "button";
  remove.disabled = image.usedBy.length > 0;
  remove.title = image.usedBy.length > 0 ? `In use by ${image.usedBy.join(", ")}` : "";
  remove.addEventListener("click", () => deleteImage(pool, image.name, page));
  const actions = document.createElement("div");
  actions.className = "actions";
  actions.append(download, remove);
  const format = image.problem ? `${image.format} (unreadable: ${image.problem})` : image.format;
  tr.append(cell("Name", text("strong", image.name)), cell("Format", format), cell("Size", size(image.virtualSizeBytes)),
    cell("On disk", size(image.actualSizeBytes)), cell("Backing", image.backingFile ?? "–"),
    cell("Used by", image.usedBy.length ? image.usedBy.join(", ") : "–"), cell("Actions", actions));
  return tr;
}

async function deleteImage(pool, name, page) {
  if (!confirm(`Delete the image ${name} of pool ${pool}?`)) return;
  $("storage-message").textContent = "";
  try {
    await api("DELETE", imagesPath(pool, name));
    if (isCurrent(page)) { $("storage-message").textContent = `Deleted ${name}.`; await loadStorage(page); }
  } catch (error) {
    if (isCurrent(page) && !refused(error)) $("storage-message").textContent = error.message;
  }
}

/** PUTs the file with its progress shown; resolves with the image, rejects with an ApiError. */
function upload(pool, file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", `/api/v1/${imagesPath(pool, file.name)}`);
    request.setRequestHeader("Authorization", `Bearer ${getToken()}`);
    request.setRequestHeader("Content-Type", "application/octet-stream");
    request.upload.onprogress = (event) => { if (event.lengthComputable) onProgress(event.loaded, event.total); };
    request.onload = () => {
      let json = null;
      try { json = JSON.parse(request.responseText); } catch { json = { detail: request.responseText }; }
      if (request.status >= 200 && request.status < 300) resolve(json);
      else reject(new ApiError(request.status, json));
    };
    request.onerror = () => reject(new ApiError(0, { detail: "the upload broke off" }));
    request.send(file);
  });
}

/**
 * Runs a change made from the page (`make` resolves with the new image), then says what became of it and reads the
 * pools again; a refusal is said in the message line. Answers for an earlier page are dropped.
 */
async function change(page, verb, form, make) {
  $("storage-message").textContent = "";
  try {
    const image = await make();
    if (!isCurrent(page)) return;
    $("storage-message").textContent = `${verb} ${image.name} (${image.format}, ${bytes(image.virtualSizeBytes)}).`;
    $(form).reset();
    await loadStorage(page);
  } catch (error) {
    if (isCurrent(page) && !refused(error)) $("storage-message").textContent = error.message;
  }
}

/** Wires the pool chooser, the upload form and the new-image form; `currentPage` tells whose answers still count. */
export function setupStorage(currentPage) {
  $("pool-select").addEventListener("change", () => loadImages(currentPage()).catch((error) => {
    if (!refused(error)) $("storage-message").textContent = error.message;
  }));
  $("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("upload-file").files[0];
    if (!file) return;
    const progress = $("upload-progress");
    progress.hidden = false;
    progress.value = 0;
    await change(currentPage(), "Uploaded", "upload-form",
      () => upload(chosenPool(), file, (done, total) => { progress.value = done / total; }));
    progress.hidden = true;
  });
  $("image-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData($("image-form"));
    const backing = form.get("backing") || undefined;
    const sizeMiB = form.get("sizeMiB");
    const spec = { name: form.get("name"), format: backing ? "qcow2" : form.get("format"), backing,
      sizeBytes: sizeMiB ? Number(sizeMiB) * 1048576 : undefined };
    await change(currentPage(), "Created", "image-form", () => api("POST", imagesPath(chosenPool()), spec));
  });
}
