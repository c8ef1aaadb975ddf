"""R-CNN's data layer: WindowData (windows of images, sampled foreground/background, warped).

* WindowData: ``window_data_param { source batch_size fg_threshold bg_threshold fg_fraction context_pad
  crop_mode scale cache_images root_folder }`` with ``transform_param { crop_size mirror mean_file
  mean_value }``; exactly two tops: data ``(batch_size, 3, crop_size, crop_size)`` and label
  ``(batch_size,)``, known without reading an image (the meta device builds no feed workers).
  Batches come from ``tunewiz.data.feed.make_feed`` (:mod:`tunewiz.data.window_feed` samples and cuts
  them as Caffe's ``load_batch``), staged to the device as the other feed layers' are.
"""
from __future__ import annotations

from tunewiz.engine.layers.base import register
from tunewiz.engine.layers.data import _FeedLayer


@register("WindowData")
class WindowData(_FeedLayer):
    """Caffe's WindowDataLayer (ExactNumTopBlobs 2: data, label)."""

    def data_setup(self):
        if len(self.param.top) != 2:
            raise self.fail(f"takes exactly 2 tops (data, label), got {len(self.param.top)}")
        return super().data_setup()
