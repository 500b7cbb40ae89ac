// Sign-in kept in this browser tab only: the API key lives in sessionStorage
// (gone when the tab closes), is sent as the X-API-Key header, and is never
// put in a URL. In Azure, App Service authentication signs people in instead
// and the key is not needed. Shared by the review console and the dashboard.

const KEY = "oms.apiKey";

export function apiKey() {
  return window.sessionStorage.getItem(KEY) || "";
}

export function keepKey(key) {
  window.sessionStorage.setItem(KEY, key);
}

export function forgetKey() {
  window.sessionStorage.removeItem(KEY);
  // Earlier dashboards kept the key in localStorage: never leave it there.
  window.localStorage.removeItem(KEY);
}

export function authHeaders() {
  const key = apiKey();
  return key ? { "X-API-Key": key } : {};
}

// Who the caller is (GET /api/me): {user, roles, via, acts_as}, or null
// when neither a key nor an App Service sign-in identifies them (or the
// key is not valid).
export async function whoAmI() {
  const response = await fetch("/api/me", { headers: { Accept: "application/json", ...authHeaders() } });
  if (response.status === 401) return null;
  if (!response.ok) throw new Error(`GET /api/me answered ${response.status}`);
  const me = await response.json();
  return me.user ? me : null;
}

// A sign-in form in `container`; resolves with the identity once a key is
// accepted. `purpose` says what the key is for.
export function signInForm(container, purpose) {
  return new Promise((resolve) => {
    container.replaceChildren();
    const form = document.createElement("form");
    form.className = "signin";
    form.setAttribute("aria-labelledby", "signin-title");
    form.innerHTML = `
      <h1 id="signin-title">Sign in</h1>
      <p>${purpose} Your key is kept in this browser tab only and is forgotten when you close it.</p>
      <label for="signin-key">API key</label>
      <input id="signin-key" name="key" type="password" autocomplete="off" required spellcheck="false">
      <p id="signin-error" class="error" role="alert" hidden></p>
      <button type="submit" class="primary">Sign in</button>`;
    container.appendChild(form);
    const input = form.querySelector("#signin-key");
    const error = form.querySelector("#signin-error");
    input.focus();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      keepKey(input.value.trim());
      const me = await whoAmI().catch(() => null);
      if (me) {
        resolve(me);
        return;
      }
      forgetKey();
      error.textContent = "That API key is not valid here. Check it and try again.";
      error.hidden = false;
      input.select();
    });
  });
}
