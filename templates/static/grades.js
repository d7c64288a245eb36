// The grade sheet, keyboard-fast: Enter in a score goes to the next pupil's score (Tab still walks every field).
document.addEventListener("keydown", (event) => {
  const field = event.target;
  if (event.key !== "Enter" || !(field instanceof HTMLInputElement) || !field.classList.contains("score")) return;
  const scores = Array.from(document.querySelectorAll(".grade-sheet input.score"));
  const next = scores[scores.indexOf(field) + 1];
  if (next) {
    event.preventDefault();
    next.focus();
    next.select();
  }
});
