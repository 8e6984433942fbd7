"""Pixel operations shared by ``data/``, evaluation, inference and the restore command.

``io`` (reading and writing 8-bit image files), ``resize`` (MATLAB's bicubic ``imresize``),
``color`` (MATLAB's ``rgb2ycbcr`` luma), ``quantize`` (MATLAB's uint8 rounding, the one rule),
``dihedral`` (the 8 flips/transposes of augmentation and self-ensemble), ``rendering``
(viewable pictures: panels, heat maps and overlays, labels, PNG files).
"""
