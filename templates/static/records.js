// The register at the keyboard: P, A or L on a pupil's choices marks them present, absent or late and moves on to
// the next pupil. The form works without it (Tab and the arrow keys).
document.addEventListener("keydown", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== "radio" || !input.name.startsWith("mark-")) return;
  const value = { p: "present", a: "absent", l: "late" }[event.key.toLowerCase()];
  if (!value || event.ctrlKey || event.metaKey || event.altKey) return;
  event.preventDefault();
  const choice = input.form.querySelector(`input[name="${input.name}"][value="${value}"]`);
  if (choice) choice.checked = true;
  const rows = Array.from(input.form.querySelectorAll("fieldset.mark"));
  const next = rows[rows.indexOf(input.closest("fieldset")) + 1];
  const target = next ? next.querySelector("input:checked") || next.querySelector("input") : input.form.querySelector("button[type=submit]");
  if (target) target.focus();
});
