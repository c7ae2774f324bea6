// Confirmation and one-field prompts in the page's own modal <dialog> (#ask): unlike
// window.confirm they are styled, labelled for screen readers and never block the event loop.

const $ = (id) => document.getElementById(id);

function ask({ title, message = "", action, field = null, danger = false }) {
  const dialog = $("ask");
  $("ask-title").textContent = title;
  $("ask-message").textContent = message;
  $("ask-message").hidden = !message;
  $("ask-field").hidden = !field;
  $("ask-ok").textContent = action;
  $("ask-ok").classList.toggle("danger", danger);
  const input = $("ask-input");
  input.required = Boolean(field);
  if (field) {
    $("ask-label").textContent = field.label;
    input.value = field.value || "";
  }
  dialog.returnValue = "";
  dialog.showModal();
  // A destructive question starts on Cancel; a prompt starts in its text field.
  (field ? input : $("ask-cancel")).focus();
  if (field) input.select();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok" ? input.value.trim() : null), { once: true });
  });
}

export function wireDialogs() {
  $("ask-cancel").addEventListener("click", () => $("ask").close("cancel"));
}

export async function askConfirm({ title, message, action }) {
  return (await ask({ title, message, action, danger: true })) !== null;
}

export async function askText({ title, label, value = "", action }) {
  const text = await ask({ title, action, field: { label, value } });
  return text ? text : null;
}
