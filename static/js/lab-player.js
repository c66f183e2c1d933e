// The step player: walks the output cells in reading order (left to right, top to bottom), one per
// step, so the window can be seen sliding over the input while the output fills in cell by cell.
//
//   const player = createPlayer(elements, { count: () => h * w, onStep(cell), onReset(), speed });

/**
 * elements: {play, step, reset, speed, speedValue, position} (buttons, a range input, outputs).
 * options.count(): how many cells there are now (0: nothing to play); options.onStep(cell) draws cell
 * `cell` (0-based); options.onReset() shows the whole output again; options.onSpeed(stepsPerSecond);
 * options.describe(cell) says which cell it is, for the position line.
 * Returns {step(), play(), pause(), reset(), get cell(), get playing()}.
 */
export function createPlayer(elements, { count, onStep, onReset, onSpeed = () => {}, speed = 8,
  describe = (cell) => `cell ${cell + 1}` }) {
  let cell = -1;
  let timer = null;
  elements.speed.value = String(speed);
  speed = Number(elements.speed.value); // a speed from a link, held to the slider's range
  elements.speedValue.textContent = `${speed}/s`;

  function show() {
    const total = count();
    elements.position.textContent = cell < 0 ? "Press Step or Play to slide the window over the input."
      : `Step ${cell + 1} of ${total}: ${describe(cell)}`;
    elements.position.dataset.step = String(cell + 1);
    elements.play.textContent = timer ? "Pause" : "Play";
    // each step is announced when stepped by hand; while playing, eight a second would drown everything
    elements.position.setAttribute("aria-live", timer ? "off" : "polite");
  }

  function step() {
    const total = count();
    if (!total) return;
    cell = (cell + 1) % total;
    onStep(cell);
    if (timer && cell === total - 1) pause();
    show();
  }

  function play() {
    if (timer || !count()) return;
    if (cell >= count() - 1) cell = -1;
    timer = setInterval(step, 1000 / Number(elements.speed.value));
    show();
  }

  function pause() {
    clearInterval(timer);
    timer = null;
    show();
  }

  function reset() {
    pause();
    cell = -1;
    onReset();
    show();
  }

  elements.play.addEventListener("click", () => (timer ? pause() : play()));
  elements.step.addEventListener("click", () => {
    pause();
    step();
  });
  elements.reset.addEventListener("click", reset);
  elements.speed.addEventListener("input", () => {
    const value = Number(elements.speed.value);
    elements.speedValue.textContent = `${value}/s`;
    onSpeed(value);
    if (timer) {
      pause();
      play();
    }
  });
  show();
  return {
    step, play, pause, reset,
    get cell() { return cell; },
    get playing() { return Boolean(timer); },
  };
}
