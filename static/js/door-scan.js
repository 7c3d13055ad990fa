// The door's QR scanner: the rear camera into a <video>, its frames decoded by the browser's
// own BarcodeDetector where it reads QR codes, else by the vendored jsQR
// (static/js/vendor/jsqr/jsQR.js, which the page loads too) on a canvas about 8 times a second.
// A plain script, no build step and no inline code (the Content-Security-Policy allows none).
//
//   PartylineDoorScan.supported()              -> can this browser scan at all?
//   PartylineDoorScan.start(video, onCode)     -> a promise of stop(); onCode(text) once per
//                                                 code shown (held in view, it is not repeated)
//   PartylineDoorScan.decodeImageData(data)    -> the QR code's text in an ImageData, or null
//
// start() rejects with an Error whose `reason` is "unsupported", "denied", "no-camera" or
// "unavailable", and whose message says what to do, for the page to show.
(function () {
  "use strict";

  var FRAME_MS = 125; // about 8 decodes a second: quick at a door, light on a phone's battery
  // A code held in front of the camera is seen 8 times a second: it is reported again only
  // after it has been out of view this long.
  var SAME_CODE_MS = 3000;
  // Frames are scaled down to this before jsQR reads them: a code at arm's length still has
  // several pixels a module, and a phone decodes a 640-pixel frame well within FRAME_MS.
  var MAX_SIDE = 640;

  var MESSAGES = {
    unsupported: "This browser cannot scan QR codes here. Type the check-in code instead.",
    denied: "The camera is blocked. Allow this page to use the camera in the browser's " +
      "settings, then try again, or type the check-in code.",
    "no-camera": "No camera was found on this device. Type the check-in code instead.",
    unavailable: "The camera could not start (another app may be using it). Close other " +
      "apps that use the camera and try again, or type the check-in code."
  };

  function scanError(reason, cause) {
    var error = new Error(MESSAGES[reason]);
    error.name = "DoorScanError";
    error.reason = reason;
    error.cause = cause;
    return error;
  }

  // getUserMedia's failures (DOMException names), in words staff can act on.
  function cameraError(cause) {
    var name = cause && cause.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      return scanError("denied", cause);
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return scanError("no-camera", cause);
    }
    return scanError("unavailable", cause);
  }

  function canOpenCamera() {
    return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  function hasJsQR() {
    return typeof window.jsQR === "function";
  }

  function supported() {
    return canOpenCamera() && ("BarcodeDetector" in window || hasJsQR());
  }

  function decodeImageData(imageData) {
    if (!hasJsQR()) {
      return null;
    }
    var found = window.jsQR(imageData.data, imageData.width, imageData.height);
    return found && found.data ? found.data : null;
  }

  // The browser's detector where it reads QR codes (it is faster and copes with glare), else
  // jsQR on a canvas. A promise of a function from the video to a promise of the text or null.
  function chooseDecoder() {
    var native = "BarcodeDetector" in window && window.BarcodeDetector.getSupportedFormats ?
      window.BarcodeDetector.getSupportedFormats() : Promise.resolve([]);
    return native.catch(function () { return []; }).then(function (formats) {
      if (formats.indexOf("qr_code") !== -1) {
        var detector = new window.BarcodeDetector({formats: ["qr_code"]});
        return function (video) {
          return detector.detect(video).then(function (codes) {
            return codes.length ? codes[0].rawValue : null;
          });
        };
      }
      if (!hasJsQR()) {
        throw scanError("unsupported");
      }
      var canvas = document.createElement("canvas");
      var context = canvas.getContext("2d", {willReadFrequently: true});
      return function (video) {
        var scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
        canvas.width = Math.round(video.videoWidth * scale);
        canvas.height = Math.round(video.videoHeight * scale);
        context.drawImage(video, 0, 0, canvas.width, canvas.height);
        return Promise.resolve(
          decodeImageData(context.getImageData(0, 0, canvas.width, canvas.height))
        );
      };
    });
  }

  function start(video, onCode) {
    if (!canOpenCamera()) {
      return Promise.reject(scanError("unsupported"));
    }
    var stream = null;
    var stopped = false;
    var timer = null;
    var last = {text: null, seenAt: 0};

    function stop() {
      stopped = true;
      clearTimeout(timer);
      if (stream) {
        stream.getTracks().forEach(function (track) { track.stop(); });
      }
      video.srcObject = null;
    }

    function seen(text) {
      var now = Date.now();
      var repeat = text === last.text && now - last.seenAt < SAME_CODE_MS;
      last = {text: text, seenAt: now};
      if (!repeat) {
        onCode(text);
      }
    }

    function loop(decode) {
      if (stopped) {
        return;
      }
      // Nothing to read before the first frame, or while the page is in the background.
      var ready = video.readyState >= video.HAVE_CURRENT_DATA && video.videoWidth > 0 &&
        !document.hidden;
      (ready ? decode(video) : Promise.resolve(null)).catch(function () {
        return null; // one unreadable frame: the next one is 125 ms away
      }).then(function (text) {
        if (stopped) {
          return;
        }
        timer = setTimeout(function () { loop(decode); }, FRAME_MS);
        if (text) {
          seen(text);
        }
      });
    }

    return navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}, audio: false})
      .catch(function (cause) { throw cameraError(cause); })
      .then(function (opened) {
        stream = opened;
        video.muted = true;
        video.setAttribute("playsinline", ""); // iOS: in the page, not full screen
        video.srcObject = stream;
        return Promise.all([video.play(), chooseDecoder()]);
      })
      .then(function (results) {
        loop(results[1]);
        return stop;
      }, function (error) {
        stop();
        throw error.reason ? error : scanError("unavailable", error);
      });
  }

  window.PartylineDoorScan = {
    supported: supported,
    start: start,
    decodeImageData: decodeImageData
  };
})();
