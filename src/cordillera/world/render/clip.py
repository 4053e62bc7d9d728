"""Compiled kernels of the camera renderer: cull and transform polygons, clip them to the view frustum,
project them to fixed-point pixels for cv2.

    >>> count = transform_cull(vertices, starts, order, centre, radius, normal, matrix, camera_world, frustum,
    ...                        out_vertices, out_starts, out_source)
    >>> count = clip_project(out_vertices, out_starts, count, frustum, intrinsics, pixels, px_starts, px_source)

Polygons are flat arrays: polygon k is vertices[starts[k]:starts[k+1]]. The frustum is five planes in the
optical frame (z forward, x right, y down), each (a, b, c, d) keeping points with a*x + b*y + c*z + d >= 0:
the near plane z >= near and four side planes a couple of pixels outside the image. Clipping is
Sutherland-Hodgman against each plane, so a polygon crossing behind the camera keeps exactly the part in
front of it (never a vertex with z <= 0 that would project to the wrong side and smear across the image),
and projected coordinates stay within a few pixels of the image, which keeps cv2's fixed-point maths small.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["SHIFT", "frustum_planes", "transform_cull", "clip_project", "paint_order", "splat", "tiny"]

SHIFT = 4  # fractional bits of the fixed-point pixel coordinates handed to cv2 (1/16 px)
GUARD_PX = 2.0  # side planes sit this far outside the image so clipped edges are never visible


def frustum_planes(fx: float, fy: float, cx: float, cy: float, width: int, height: int, near: float) -> np.ndarray:
    """(5, 4) planes [a, b, c, d] (unit normals pointing inside): near, left, right, top, bottom."""
    g = GUARD_PX
    left, right = (cx + 0.5 + g) / fx, (width - 0.5 - cx + g) / fx  # tangents of the half-angles
    top, bottom = (cy + 0.5 + g) / fy, (height - 0.5 - cy + g) / fy
    planes = np.array([[0.0, 0.0, 1.0, -near], [1.0, 0.0, left, 0.0], [-1.0, 0.0, right, 0.0],
                       [0.0, 1.0, top, 0.0], [0.0, -1.0, bottom, 0.0]])
    planes[1:] /= np.linalg.norm(planes[1:, :3], axis=1)[:, None]
    return planes


@njit(cache=True)
def transform_cull(vertices, starts, order, centre, radius, normal, matrix, camera_world, frustum, far,
                   out_vertices, out_starts, out_source):
    """Move polygons `order` (in that order) into the optical frame, skipping those whose bounding sphere lies
    outside the frustum or beyond `far`, and those whose normal (non-zero) faces away from the camera.

    vertices (V, 3) world; matrix (3, 4) world -> optical; camera_world (3,). Writes the kept polygons to
    out_vertices (>= V, 3), out_starts (>= P + 1), out_source (>= P: index of the input polygon). Returns
    how many polygons were kept.
    """
    count = 0
    w = 0
    out_starts[0] = 0
    for i in order:
        c0, c1, c2 = centre[i, 0], centre[i, 1], centre[i, 2]
        ox = matrix[0, 0] * c0 + matrix[0, 1] * c1 + matrix[0, 2] * c2 + matrix[0, 3]
        oy = matrix[1, 0] * c0 + matrix[1, 1] * c1 + matrix[1, 2] * c2 + matrix[1, 3]
        oz = matrix[2, 0] * c0 + matrix[2, 1] * c1 + matrix[2, 2] * c2 + matrix[2, 3]
        r = radius[i]
        if oz - r > far:
            continue
        outside = False
        for p in range(frustum.shape[0]):
            if frustum[p, 0] * ox + frustum[p, 1] * oy + frustum[p, 2] * oz + frustum[p, 3] < -r:
                outside = True
                break
        if outside:
            continue
        s0, s1 = starts[i], starts[i + 1]
        n0, n1, n2 = normal[i, 0], normal[i, 1], normal[i, 2]
        if n0 != 0.0 or n1 != 0.0 or n2 != 0.0:
            facing = (n0 * (camera_world[0] - vertices[s0, 0]) + n1 * (camera_world[1] - vertices[s0, 1])
                      + n2 * (camera_world[2] - vertices[s0, 2]))
            if facing <= 0.0:
                continue
        for j in range(s0, s1):
            x, y, z = vertices[j, 0], vertices[j, 1], vertices[j, 2]
            out_vertices[w, 0] = matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2] * z + matrix[0, 3]
            out_vertices[w, 1] = matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2] * z + matrix[1, 3]
            out_vertices[w, 2] = matrix[2, 0] * x + matrix[2, 1] * y + matrix[2, 2] * z + matrix[2, 3]
            w += 1
        out_source[count] = i
        count += 1
        out_starts[count] = w
    return count


@njit(cache=True)
def _clip_plane(src, n, dst, a, b, c, d):
    """Sutherland-Hodgman: clip polygon src[:n] to a*x + b*y + c*z + d >= 0 into dst; returns its size.

    A convex polygon gains at most one vertex; a concave one at most one per crossing edge. Output beyond
    dst's capacity is dropped rather than written out of bounds."""
    m = 0
    cap = dst.shape[0]
    if n == 0:
        return 0
    px, py, pz = src[n - 1, 0], src[n - 1, 1], src[n - 1, 2]
    pd = a * px + b * py + c * pz + d
    for k in range(n):
        qx, qy, qz = src[k, 0], src[k, 1], src[k, 2]
        qd = a * qx + b * qy + c * qz + d
        if m + 2 > cap:
            break
        if (pd >= 0.0) != (qd >= 0.0):  # the edge crosses the plane: add the crossing point
            t = pd / (pd - qd)
            dst[m, 0] = px + (qx - px) * t
            dst[m, 1] = py + (qy - py) * t
            dst[m, 2] = pz + (qz - pz) * t
            m += 1
        if qd >= 0.0:
            dst[m, 0], dst[m, 1], dst[m, 2] = qx, qy, qz
            m += 1
        px, py, pz, pd = qx, qy, qz, qd
    return m


@njit(cache=True)
def clip_project(vertices, starts, count, frustum, intrinsics, out_pixels, out_starts, out_index):
    """Clip polygons 0..count-1 (optical frame) to the frustum and project them to fixed-point pixels.

    intrinsics: (4,) fx, fy, cx, cy. Writes int32 pixel coordinates scaled by 2**SHIFT to out_pixels
    (2 * V + 16 * count rows is always enough), out_starts, and for each output polygon the input polygon's
    index to out_index.
    Polygons clipped away entirely (or to a sliver of < 3 vertices) are dropped. Returns the output count.
    """
    longest = 3
    for i in range(count):
        longest = max(longest, starts[i + 1] - starts[i])
    buf_a = np.empty((2 * longest + 16, 3))
    buf_b = np.empty((2 * longest + 16, 3))
    scale = float(1 << SHIFT)
    fx, fy, cx, cy = intrinsics[0], intrinsics[1], intrinsics[2], intrinsics[3]
    kept = 0
    w = 0
    out_starts[0] = 0
    for i in range(count):
        s0, s1 = starts[i], starts[i + 1]
        n = s1 - s0
        inside = True  # fast path: every vertex inside every plane
        for j in range(s0, s1):
            for p in range(frustum.shape[0]):
                if (frustum[p, 0] * vertices[j, 0] + frustum[p, 1] * vertices[j, 1] + frustum[p, 2] * vertices[j, 2]
                        + frustum[p, 3]) < 0.0:
                    inside = False
                    break
            if not inside:
                break
        for j in range(n):
            buf_a[j, 0], buf_a[j, 1], buf_a[j, 2] = vertices[s0 + j, 0], vertices[s0 + j, 1], vertices[s0 + j, 2]
        src, dst = buf_a, buf_b
        if not inside:
            for p in range(frustum.shape[0]):
                n = _clip_plane(src, n, dst, frustum[p, 0], frustum[p, 1], frustum[p, 2], frustum[p, 3])
                src, dst = dst, src
                if n < 3:
                    break
        if n < 3:
            continue
        if w + n > out_pixels.shape[0]:
            break
        for j in range(n):
            z = src[j, 2]
            out_pixels[w + j, 0] = np.int32(math.floor((fx * src[j, 0] / z + cx) * scale + 0.5))
            out_pixels[w + j, 1] = np.int32(math.floor((fy * src[j, 1] / z + cy) * scale + 0.5))
        w += n
        out_index[kept] = i
        kept += 1
        out_starts[kept] = w
    return kept


@njit(cache=True)
def paint_order(camera_world, fx, lod_px, part_centre, part_yaw, part_half, part_enabled, part_group, part_level,
                quad_part, quad_decal, quad_emissive, quad_normal, quad_centre, out_order, out_part_dist):
    """Painter's order of object quads for one camera, with level of detail. Returns how many quads to draw.

    Objects (runs of equal part_group) go far to near by the closest point of their parts' boxes; the parts
    of an object by level (stacked parts bottom-up), then far to near; the quads of a part in their stored
    order (faces, then decals), which requires quads grouped by part. A part smaller than lod_px on screen
    keeps only the face turned most towards the camera and its emissive decals; one under lod_px / 6 keeps
    only emissive decals. Writes quad indices to out_order and part distances [m] to out_part_dist.
    """
    n_parts = part_centre.shape[0]
    n_quads = quad_part.shape[0]
    for p in range(n_parts):
        if not part_enabled[p]:
            out_part_dist[p] = np.inf
            continue
        rx = camera_world[0] - part_centre[p, 0]
        ry = camera_world[1] - part_centre[p, 1]
        rz = camera_world[2] - part_centre[p, 2]
        c, s = math.cos(part_yaw[p]), math.sin(part_yaw[p])
        lx = abs(c * rx + s * ry) - part_half[p, 0]
        ly = abs(-s * rx + c * ry) - part_half[p, 1]
        lz = abs(rz) - part_half[p, 2]
        out_part_dist[p] = math.sqrt(max(lx, 0.0) ** 2 + max(ly, 0.0) ** 2 + max(lz, 0.0) ** 2)
    # quad ranges of each part
    q_first = np.full(n_parts, -1, np.int64)
    q_end = np.zeros(n_parts, np.int64)
    for q in range(n_quads):
        p = quad_part[q]
        if q_first[p] < 0:
            q_first[p] = q
        q_end[p] = q + 1
    # objects far to near
    g_first = np.empty(n_parts + 1, np.int64)
    n_groups = 0
    for p in range(n_parts):
        if p == 0 or part_group[p] != part_group[p - 1]:
            g_first[n_groups] = p
            n_groups += 1
    g_first[n_groups] = n_parts
    g_dist = np.empty(n_groups)
    for g in range(n_groups):
        d = np.inf
        for p in range(g_first[g], g_first[g + 1]):
            d = min(d, out_part_dist[p])
        g_dist[g] = -d
    count = 0
    parts = np.empty(n_parts, np.int64)
    for g in np.argsort(g_dist, kind="mergesort"):
        if g_dist[g] == -np.inf:
            continue
        a, b = g_first[g], g_first[g + 1]
        m = 0
        for p in range(a, b):  # insertion sort by (level, -distance)
            k = m
            while k > 0 and (part_level[parts[k - 1]] > part_level[p] or (part_level[parts[k - 1]] == part_level[p]
                             and out_part_dist[parts[k - 1]] < out_part_dist[p])):
                parts[k] = parts[k - 1]
                k -= 1
            parts[k] = p
            m += 1
        for i in range(m):
            p = parts[i]
            if q_first[p] < 0 or out_part_dist[p] == np.inf:
                continue
            size = fx * math.sqrt(part_half[p, 0] ** 2 + part_half[p, 1] ** 2 + part_half[p, 2] ** 2)
            size /= max(out_part_dist[p], 1e-3)
            best = -np.inf
            if size < lod_px:
                for q in range(q_first[p], q_end[p]):
                    if not quad_decal[q]:
                        tx = camera_world[0] - quad_centre[q, 0]
                        ty = camera_world[1] - quad_centre[q, 1]
                        tz = camera_world[2] - quad_centre[q, 2]
                        f = (quad_normal[q, 0] * tx + quad_normal[q, 1] * ty + quad_normal[q, 2] * tz)
                        f /= max(math.sqrt(tx * tx + ty * ty + tz * tz), 1e-9)
                        best = max(best, f)
            for q in range(q_first[p], q_end[p]):
                if size < lod_px and not quad_emissive[q]:
                    if quad_decal[q] or size < lod_px / 6.0:
                        continue
                    tx = camera_world[0] - quad_centre[q, 0]
                    ty = camera_world[1] - quad_centre[q, 1]
                    tz = camera_world[2] - quad_centre[q, 2]
                    f = (quad_normal[q, 0] * tx + quad_normal[q, 1] * ty + quad_normal[q, 2] * tz)
                    f /= max(math.sqrt(tx * tx + ty * ty + tz * tz), 1e-9)
                    if f < best:
                        continue
                out_order[count] = q
                count += 1
    return count


@njit(cache=True)
def splat(image, pixels, starts, index, colors):
    """Draw tiny polygons `index` (in that order) as the block of pixels their vertices round to.

    For polygons under 2 px across this is what cv2's fill draws, at a fraction of a call's cost.
    colors: (len(index), channels) uint8, one row per polygon.
    """
    height, width, channels = image.shape
    half = 1 << (SHIFT - 1)
    for i in range(index.shape[0]):
        k = index[i]
        x0, y0, x1, y1 = 1 << 30, 1 << 30, -(1 << 30), -(1 << 30)
        for j in range(starts[k], starts[k + 1]):
            x = (pixels[j, 0] + half) >> SHIFT
            y = (pixels[j, 1] + half) >> SHIFT
            x0, x1, y0, y1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
        for y in range(max(y0, 0), min(y1, height - 1) + 1):
            for x in range(max(x0, 0), min(x1, width - 1) + 1):
                for c in range(channels):
                    image[y, x, c] = colors[i, c]


def tiny(pixels: np.ndarray, starts: np.ndarray, limit_px: float = 2.0) -> np.ndarray:
    """Bool (K,): polygons less than limit_px across in both directions (to be drawn with `splat`)."""
    if len(starts) < 2:
        return np.zeros(0, bool)
    used = pixels[: starts[-1]]  # reduceat runs the last polygon to the end of the array
    lo = np.minimum.reduceat(used, starts[:-1], axis=0)
    hi = np.maximum.reduceat(used, starts[:-1], axis=0)
    return np.all(hi - lo < limit_px * (1 << SHIFT), axis=1)
