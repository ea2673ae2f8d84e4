/* Amber replay shim: keeps the URLs an archived page builds at run time inside the archive.
 *
 * The server rewrote every URL in the HTML and CSS. Scripts build more at run time
 * (fetch, XMLHttpRequest, img.src = ..., setAttribute, history.pushState, new Worker,
 * EventSource); this file, loaded first in every replayed document, maps them to
 * the replay prefix the same way. Whatever still escapes is stopped by the replay
 * origin's Content-Security-Policy, so nothing reaches the live web either way.
 * WebSockets cannot be replayed from a WARC and are refused.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__amberReplay) return;
  var prefix = script.getAttribute("data-prefix"); // "/{cap}/{snapshot}/mp_/"
  var original = script.getAttribute("data-url"); // the archived URL of this document
  var when = script.getAttribute("data-ts");
  var here = location.origin;
  var skip = /^(data:|blob:|javascript:|about:|mailto:|tel:|#)/i;

  function originalBase() {
    var base = document.querySelector("base[href]");
    if (base) {
      var href = base.getAttribute("href");
      var at = href.indexOf("/mp_/");
      if (at >= 0) return href.slice(at + 5);
    }
    return original;
  }

  function rw(value) {
    if (value === null || value === undefined) return value;
    var text = String(value);
    if (!text || skip.test(text)) return value;
    if (text.indexOf(prefix) === 0 || text.indexOf(here + prefix) === 0) return value;
    var absolute;
    try {
      absolute = new URL(text, originalBase());
    } catch (e) {
      return value;
    }
    if (absolute.origin === here) {
      // Resolved against the replay document itself: map back onto the archived site.
      absolute = new URL(absolute.pathname + absolute.search, new URL(original).origin);
    }
    if (absolute.protocol !== "http:" && absolute.protocol !== "https:") return value;
    return prefix + absolute.href;
  }

  function rwSrcset(value) {
    if (!value) return value;
    return String(value)
      .split(",")
      .map(function (candidate) {
        var parts = candidate.trim().split(/\s+/);
        if (parts[0]) parts[0] = rw(parts[0]);
        return parts.join(" ");
      })
      .join(", ");
  }

  var nativeFetch = window.fetch;
  if (nativeFetch) {
    window.fetch = function (input, init) {
      if (typeof input === "string" || input instanceof URL) {
        input = rw(String(input));
      } else if (input && input.url) {
        input = new Request(rw(input.url), input);
      }
      return nativeFetch.call(this, input, init);
    };
  }

  var nativeOpen = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url) {
    var args = Array.prototype.slice.call(arguments);
    args[1] = rw(url);
    return nativeOpen.apply(this, args);
  };

  function patchProperty(proto, name, mapper) {
    if (!proto) return;
    var desc = Object.getOwnPropertyDescriptor(proto, name);
    if (!desc || !desc.set) return;
    Object.defineProperty(proto, name, {
      configurable: true,
      enumerable: desc.enumerable,
      get: desc.get,
      set: function (value) {
        desc.set.call(this, mapper(value));
      },
    });
  }

  var urlProps = [
    [window.HTMLImageElement, "src"],
    [window.HTMLScriptElement, "src"],
    [window.HTMLLinkElement, "href"],
    [window.HTMLIFrameElement, "src"],
    [window.HTMLFrameElement, "src"],
    [window.HTMLSourceElement, "src"],
    [window.HTMLMediaElement, "src"],
    [window.HTMLVideoElement, "poster"],
    [window.HTMLTrackElement, "src"],
    [window.HTMLEmbedElement, "src"],
    [window.HTMLObjectElement, "data"],
    [window.HTMLInputElement, "src"],
    [window.HTMLFormElement, "action"],
    [window.HTMLAnchorElement, "href"],
    [window.HTMLAreaElement, "href"],
  ];
  urlProps.forEach(function (pair) {
    if (pair[0]) patchProperty(pair[0].prototype, pair[1], rw);
  });
  [window.HTMLImageElement, window.HTMLSourceElement].forEach(function (ctor) {
    if (ctor) patchProperty(ctor.prototype, "srcset", rwSrcset);
  });

  var urlAttributes = { src: 1, href: 1, action: 1, formaction: 1, poster: 1, data: 1, background: 1 };
  var nativeSetAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    var lowered = String(name).toLowerCase();
    if (urlAttributes[lowered]) value = rw(value);
    else if (lowered === "srcset" || lowered === "imagesrcset") value = rwSrcset(value);
    return nativeSetAttribute.call(this, name, value);
  };

  ["pushState", "replaceState"].forEach(function (name) {
    var native = history[name];
    history[name] = function (state, title, url) {
      return native.call(this, state, title, url === undefined || url === null ? url : rw(url));
    };
  });

  var nativeWindowOpen = window.open;
  window.open = function (url) {
    var args = Array.prototype.slice.call(arguments);
    if (url) args[0] = rw(url);
    return nativeWindowOpen.apply(this, args);
  };

  if (navigator.sendBeacon) {
    var nativeBeacon = navigator.sendBeacon.bind(navigator);
    navigator.sendBeacon = function (url, data) {
      return nativeBeacon(rw(url), data);
    };
  }

  ["Worker", "SharedWorker", "EventSource"].forEach(function (name) {
    var Native = window[name];
    if (!Native) return;
    var Wrapped = function (url, options) {
      return new Native(rw(url), options);
    };
    Wrapped.prototype = Native.prototype;
    window[name] = Wrapped;
  });

  if (window.WebSocket) {
    window.WebSocket = function () {
      throw new DOMException("WebSockets are not replayed from the archive", "SecurityError");
    };
  }

  // Elements inserted as HTML strings (innerHTML) bypass the setters: fix their URLs.
  new MutationObserver(function (records) {
    records.forEach(function (record) {
      record.addedNodes.forEach(function fix(node) {
        if (node.nodeType !== 1) return;
        ["src", "href", "poster", "action"].forEach(function (attr) {
          var v = node.getAttribute && node.getAttribute(attr);
          if (v && rw(v) !== v) nativeSetAttribute.call(node, attr, rw(v));
        });
        var set = node.getAttribute && node.getAttribute("srcset");
        if (set && rwSrcset(set) !== set) nativeSetAttribute.call(node, "srcset", rwSrcset(set));
        if (node.children) Array.prototype.forEach.call(node.children, fix);
      });
    });
  }).observe(document.documentElement, { childList: true, subtree: true });

  window.__amberReplay = { prefix: prefix, url: original, timestamp: when, rewrite: rw };

  // Tell Amber's frame which archived page is showing (it checks our origin).
  function announce() {
    if (window.parent === window) return;
    try {
      window.parent.postMessage(
        { amber: "replay", url: original, timestamp: when, title: document.title },
        "*"
      );
    } catch (e) {}
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", announce);
  } else {
    announce();
  }
})();
