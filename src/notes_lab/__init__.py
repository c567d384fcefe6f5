"""Experiment code that the notebooks call (needs the `experiments` extra).

lab/ never imports the engine except `repronotes.capture`, and the engine never imports lab/.
Heavy libraries (torch, transformers, peft, bitsandbytes, trl) are imported inside
functions or through `notes_lab._deps.require`, which names the install command.
"""
