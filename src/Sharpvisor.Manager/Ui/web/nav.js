// What every page's code shares: the page counter and the reaction to a refused token.
//
// The counter is bumped each time the page changes (route, sign-in form). An answer, poll or event read that began for
// an earlier page compares the number it took at its start and is dropped: a slow answer for VM a must not repaint b's.
let id = 0;
export const nextPage = () => ++id;
export const pageNow = () => id;
export const isCurrent = (page) => page === id;

let unauthorized = () => {};
export const onUnauthorized = (handler) => { unauthorized = handler; };

/** True (after showing the sign-in form) when `error` is the API's 401. */
export function refused(error) {
  if (error?.status !== 401) return false;
  unauthorized();
  return true;
}

export const $ = (elementId) => document.getElementById(elementId);

export function text(tag, content, className) {
  const element = document.createElement(tag);
  element.textContent = content;
  if (className) element.className = className;
  return element;
}
