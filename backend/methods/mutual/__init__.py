"""StylizedNeRF's 2D-3D mutual learning (Huang et al., CVPR 2022), ``--method mutual``:
the NeRF's colour replaced by a style module conditioned on latent codes per (style,
view), and the pretrained 2D stylizer fine-tuned so that its views agree with the NeRF."""
