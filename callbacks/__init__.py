"""Lightning callbacks (checkpoints: ``last_checkpoint``, ``atomic_checkpoint_io``; logging:
``image_panels``, ``attention_maps``, ``lr_monitor``, ``config_logging``, ``log_targets``, with
pictures drawn by ``panet.imaging.rendering``; training: ``mixup``) and the Hydra multirun
callback (``multirun_summary``).
May import the core of ``panet`` and ``data``, never the application layer (``panet.cli``)."""
