import type { NextConfig } from "next";

// A static export served by the Python gateway at `/` (ARCHITECTURE §8).
// trailingSlash makes Next emit `coin/index.html`, which Starlette's StaticFiles finds.
const nextConfig: NextConfig = {
  output: "export",
  trailingSlash: true,
  images: { unoptimized: true },
  reactStrictMode: true,
  poweredByHeader: false,
};

export default nextConfig;
