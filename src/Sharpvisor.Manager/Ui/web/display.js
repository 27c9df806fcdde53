// The screens of one VM: noVNC (window.NoVncRfb, from novnc.js) over the API's VNC WebSocket for the head chosen,
// with send-Ctrl-Alt-Del and full screen. Shown only for a VM defined with a display; connected while it runs.
import { streamUrl } from "./api.js";

export class VmDisplay {
  constructor(section, screen, status, heads, ctrlAltDel, fullScreen) {
    this.section = section;
    this.screen = screen;
    this.status = status;
    this.heads = heads;
    this.rfb = null;
    this.key = null; // "vm id/head" of the connection open or opening
    ctrlAltDel.addEventListener("click", () => this.rfb?.sendCtrlAltDel());
    fullScreen.addEventListener("click", () => this.screen.requestFullscreen?.());
    heads.addEventListener("change", () => { if (this.vm) this.connect(this.vm); });
  }

  /** Shows the section for a VM with a display: connected to the chosen head while it runs, a note otherwise. */
  show(vm) {
    this.vm = vm;
    const count = vm.display?.heads ?? 0;
    this.section.hidden = count === 0;
    if (count === 0) {
      this.dispose();
      return;
    }

    if (this.heads.options.length !== count) {
      this.heads.replaceChildren(...Array.from({ length: count }, (_, i) => new Option(`Head ${i}`, String(i))));
    }

    this.heads.disabled = count === 1;
    if (vm.state === "running" || vm.state === "paused") this.connect(vm);
    else {
      this.disconnect();
      this.status.textContent = "The VM is not running: start it to see its screen.";
    }
  }

  connect(vm) {
    const head = Number(this.heads.value || 0);
    const key = `${vm.id}/${head}`;
    if (this.rfb && this.key === key) return;
    this.disconnect();
    this.key = key;
    const url = streamUrl(`vms/${encodeURIComponent(vm.id)}/display/${head}/vnc`, location.protocol === "https:" ? "wss:" : "ws:");
    const rfb = new window.NoVncRfb(this.screen, url, { shared: true });
    rfb.scaleViewport = true;
    rfb.background = "#000";
    this.status.textContent = "Connecting…";
    rfb.addEventListener("connect", () => {
      if (this.rfb === rfb) this.status.textContent = "Connected: click the screen to type into the guest.";
    });
    rfb.addEventListener("disconnect", (e) => {
      if (this.rfb !== rfb) return;
      this.rfb = null;
      this.key = null;
      this.status.textContent = e.detail.clean ? "Disconnected: the VM stopped." : "The display is not available.";
    });
    this.rfb = rfb;
  }

  disconnect() {
    const rfb = this.rfb;
    this.rfb = null;
    this.key = null;
    rfb?.disconnect();
  }

  /** Leaving the VM's page: nothing connected, nothing shown. */
  dispose() {
    this.disconnect();
    this.vm = null;
    this.section.hidden = true;
    this.status.textContent = "";
  }
}
