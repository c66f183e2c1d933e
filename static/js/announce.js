// One sentence at a time for screen readers, through a page's status region (role="status").

/**
 * An announcer speaking through `region`: `say(text)` says one sentence ("" clears it, unheard), unless the
 * region says that already; `connection(status)` says losing the connection to the server and getting it
 * back (status as RunSocket's onStatus gives it) and returns whether the socket is reconnecting.
 */
export function announcer(region) {
  let reconnecting = false; // said "Reconnecting", and not yet "Connected"
  const say = (text) => {
    if (region.textContent !== text) region.textContent = text;
  };
  const connection = (status) => {
    if (status === "open" && reconnecting) say("Connected to the server.");
    reconnecting = status === "reconnecting";
    if (reconnecting) say("Reconnecting to the server…");
    return reconnecting;
  };
  return { say, connection };
}

/**
 * What a page's progress line says of its socket, or null to leave it: "Reconnecting to the server (why)…" while
 * the socket is lost (`reconnecting`, as the announcer's connection(status) returns it), and "Connected to the
 * server." once it is open again where the line (`shown`) still says it is reconnecting and no run is on its way
 * (`busy`: that run's progress says the rest).
 */
export function connectionProgress(reconnecting, status, detail, shown, busy) {
  if (reconnecting) return `Reconnecting to the server (${detail})…`;
  if (status === "open" && shown.startsWith("Reconnecting") && !busy) return "Connected to the server.";
  return null;
}
