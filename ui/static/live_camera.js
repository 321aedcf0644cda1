// The Live tab's camera on a phone: the rear camera by default, a switch to the front one,
// and frames no larger than the detector needs.
(() => {
  const LONGEST_SIDE = 640;  // the detector's input: larger frames only cost upload time
  const camera = { facing: "environment", stream: null };
  window.faceUiCamera = camera;
  const media = navigator.mediaDevices;
  if (!media || !media.getUserMedia) return;  // no camera API (a page not served over HTTPS)

  // The Live tab asks with a facingMode (the other webcams on the page do not): it gets the
  // camera chosen here.
  const getUserMedia = media.getUserMedia.bind(media);
  media.getUserMedia = (constraints) => {
    const video = constraints && constraints.video;
    if (video && typeof video === "object" && "facingMode" in video) {
      constraints = { ...constraints, video: { ...video, facingMode: { ideal: camera.facing } } };
      camera.asked = constraints;
    }
    return getUserMedia(constraints);
  };

  const liveVideo = (element) =>
    element instanceof HTMLVideoElement && element.closest("#live-camera") !== null;

  // The Live webcam draws each whole camera frame onto a canvas and sends it as a JPEG: a
  // frame larger than LONGEST_SIDE is drawn scaled down instead.
  const drawImage = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (source, ...rest) {
    if (rest.length === 4 && liveVideo(source)) {
      const [x, y, width, height] = rest;
      const scale = Math.min(1, LONGEST_SIDE / Math.max(width, height));
      if (scale < 1) {
        this.canvas.width = Math.round(width * scale);
        this.canvas.height = Math.round(height * scale);
        return drawImage.call(this, source, x, y, this.canvas.width, this.canvas.height);
      }
    }
    return drawImage.call(this, source, ...rest);
  };

  // The switch: the running camera is stopped first (phones open one at a time), then the
  // other one plays in the same video element, which the webcam keeps capturing from.
  camera.switch = async () => {
    camera.facing = camera.facing === "environment" ? "user" : "environment";
    const button = document.querySelector("#live-switch");
    if (button) button.textContent = camera.facing === "user" ? "Use the rear camera" : "Use the front camera";
    const video = document.querySelector("#live-camera video");
    if (video && video.srcObject) {
      video.srcObject.getTracks().forEach((track) => track.stop());
      const asked = camera.asked || { video: { facingMode: camera.facing } };
      const { deviceId, ...rest } = asked.video;  // the other camera, not the one picked before
      camera.stream = await media.getUserMedia({ ...asked, video: rest });
      video.srcObject = camera.stream;
      await video.play();
    }
    return camera.facing;
  };
  window.addEventListener("pagehide", () => camera.stream && camera.stream.getTracks().forEach((t) => t.stop()));
})();
