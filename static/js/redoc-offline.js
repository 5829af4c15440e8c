/* ReDoc's bundle shows Redocly's logo from cdn.redoc.ly beside its attribution; every file of
   ours comes from our own server, so that one image gets an empty picture instead. The image
   starts loading as soon as its address is set, before the element reaches the page (too early
   for a MutationObserver), so both ways of setting it are wrapped. Loaded before the bundle. */
(function () {
  "use strict";
  var outside = "https://cdn.redoc.ly/";
  var empty = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E";
  function local(value) {
    return String(value).indexOf(outside) === 0 ? empty : value;
  }
  var image = HTMLImageElement.prototype;
  var setAttribute = Element.prototype.setAttribute;
  image.setAttribute = function (name, value) {
    return setAttribute.call(this, name, name === "src" ? local(value) : value);
  };
  var src = Object.getOwnPropertyDescriptor(image, "src");
  Object.defineProperty(image, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) {
      src.set.call(this, local(value));
    },
  });
})();
