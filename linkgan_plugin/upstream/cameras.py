"""EG3D camera labels: 25 values, a flattened 4x4 cam2world matrix then normalised 3x3 intrinsics.

`frontal_camera` equals EG3D's LookAtPoseSampler.sample(pi/2, pi/2, [0, 0, 0.2], radius=2.7) with FOV 18.837 deg.
"""

import torch


def frontal_camera(batch, device='cpu', radius=2.7, focal=4.2647):
    """EG3D-style 25-dim camera label: a frontal cam2world (4x4, flattened) + normalised intrinsics (3x3).

    The camera sits on the +z axis at `radius` and looks at the origin with world y up; its own axes follow
    EG3D's cam2world convention (x right, y down, z forward).
    """
    cam2world = torch.tensor([[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, radius], [0, 0, 0, 1]], dtype=torch.float32)
    intrinsics = torch.tensor([[focal, 0, 0.5], [0, focal, 0.5], [0, 0, 1]], dtype=torch.float32)
    c = torch.cat([cam2world.flatten(), intrinsics.flatten()])
    return c[None].repeat(batch, 1).to(device)


def random_cameras(batch, device='cpu', generator=None, yaw_range=0.3, radius=2.7, focal=4.2647):
    """25-dim camera labels with yaw jittered by up to +-yaw_range radians around the frontal view."""
    yaw = (torch.rand([batch], generator=generator) * 2 - 1) * yaw_range
    return yaw_cameras(yaw, device, radius, focal)


def yaw_cameras(yaw, device='cpu', radius=2.7, focal=4.2647):
    """25-dim camera labels [batch, 25]: the frontal camera turned about the world y axis by yaw [batch] radians
    (a number gives batch 1), still looking at the origin from `radius`."""
    yaw = torch.as_tensor(yaw, dtype=torch.float32).reshape(-1).cpu()
    batch = yaw.shape[0]
    c = frontal_camera(batch, 'cpu', radius, focal)
    cos, sin = yaw.cos(), yaw.sin()
    m = c[:, :16].reshape(batch, 4, 4).clone()
    rot = torch.zeros(batch, 4, 4)
    rot[:, 0, 0], rot[:, 0, 2], rot[:, 2, 0], rot[:, 2, 2] = cos, sin, -sin, cos
    rot[:, 1, 1] = rot[:, 3, 3] = 1
    c[:, :16] = (rot @ m).reshape(batch, 16)
    return c.to(device)
