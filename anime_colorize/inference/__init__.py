"""The one inference path: from drawings (files or the page's uploads) to written colourings.

Every command that colours (``colorize``, ``sample``) and the page (``app``) go through this
package; the model-level maths under it is :mod:`anime_colorize.sampling` (network call at
the working size, upsampling, the picture), which ``evaluate`` uses directly.

* :mod:`.hint_files`: hint files and the page's hint layers -> one hints dict (limits on
  JSON size and depth, and on pixels before decoding); the reference histogram; the table of
  hint file kinds.
* :mod:`.modes`: output modes (``--mode``): what each colouring becomes. ``smooth`` is the
  network's colour under the input's lines; a new mode is one registered class there.
* :mod:`.outputs`: output names (single file or folder, ``<stem>_<k>.png``) and the checks
  that keep inputs and earlier outputs from being overwritten.
* :mod:`.runner`: the batch loop over files: per-file isolation, batching by working shape,
  a progress bar, one full-size colouring in memory at a time.
* :mod:`.flags`: the shared command-line flags.

Import the submodules themselves (``from anime_colorize.inference.runner import
colour_files``); this file imports nothing, so building a command's parser stays free of
TensorFlow.
"""
