"""Lambda list prices (requests + GB-seconds) and how the report applies them.

Prices are the us-east-1 list prices in the reference (§6, AWS pricing page and the tiered
pricing announcement): requests $0.20 per million; duration per GB-second in monthly tiers that
aggregate per account, region and architecture. The report treats its input as one month's
usage starting from zero (so tiers apply to the input's total), and does **not** subtract the
free tier (1M requests + 400,000 GB-s per month, shared by everything in the account) unless
asked; both choices are stated in the report's `pricing` block.

Regions: we only know the us-east-1 figures for certain. The regions listed below are priced the
same in AWS's public tables as far as we know; any other region falls back to the us-east-1
prices and the report says so. Use `price_per_gb_second` to override with a figure you trust.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lifecycle_trace.errors import ConfigError

REQUEST_PRICE_PER_MILLION = 0.20
FREE_TIER_REQUESTS = 1_000_000
FREE_TIER_GB_SECONDS = 400_000.0


@dataclass(frozen=True, slots=True)
class Tier:
    """Price per GB-second for usage up to `up_to_gb_seconds` (cumulative; None = no limit)."""

    up_to_gb_seconds: float | None
    price: float


TIERS: dict[str, tuple[Tier, ...]] = {
    "x86_64": (Tier(6e9, 0.0000166667), Tier(15e9, 0.000015), Tier(None, 0.0000133334)),
    "arm64": (Tier(7.5e9, 0.0000133334), Tier(18.75e9, 0.0000120001), Tier(None, 0.0000106667)),
}
ARCHITECTURES = tuple(TIERS)
DEFAULT_REGION = "us-east-1"
SAME_AS_US_EAST_1 = frozenset({
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1",
    "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1", "ap-northeast-1", "ap-northeast-2",
    "ap-southeast-1", "ap-southeast-2", "ap-south-1", "sa-east-1",
})
"""Regions whose Lambda list prices match us-east-1 in AWS's public tables (as far as we know)."""


@dataclass(frozen=True, slots=True)
class Pricing:
    """The prices one report uses. `flat_price` (an override) replaces the tiers."""

    architecture: str = "x86_64"
    region: str = DEFAULT_REGION
    region_source: str = "default"
    flat_price: float | None = None
    request_price_per_million: float = REQUEST_PRICE_PER_MILLION
    apply_free_tier: bool = False
    tiers: tuple[Tier, ...] = field(default=())

    @classmethod
    def build(
        cls,
        architecture: str = "x86_64",
        region: str | None = None,
        detected_region: str | None = None,
        price_per_gb_second: float | None = None,
        apply_free_tier: bool = False,
    ) -> Pricing:
        """Validate the options and pick the tier table; explicit region beats detected."""
        arch = {"x86": "x86_64", "amd64": "x86_64", "aarch64": "arm64"}.get(
            architecture, architecture
        )
        if arch not in TIERS:
            raise ConfigError(f"--arch {architecture!r}: expected one of {', '.join(TIERS)}")
        if price_per_gb_second is not None and price_per_gb_second < 0:
            raise ConfigError("--price-per-gb-second: expected a number >= 0")
        chosen = region or detected_region or DEFAULT_REGION
        source = "option" if region else ("runtime ARN" if detected_region else "default")
        return cls(arch, chosen, source, price_per_gb_second, REQUEST_PRICE_PER_MILLION,
                   apply_free_tier, TIERS[arch])

    def duration_cost(self, gb_seconds: float) -> float:
        """Dollars for this many GB-seconds in one month (tiers, or the flat override)."""
        if self.apply_free_tier:
            gb_seconds = max(0.0, gb_seconds - FREE_TIER_GB_SECONDS)
        if self.flat_price is not None:
            return gb_seconds * self.flat_price
        cost, lower = 0.0, 0.0
        for tier in self.tiers:
            upper = tier.up_to_gb_seconds if tier.up_to_gb_seconds is not None else float("inf")
            used = min(gb_seconds, upper) - lower
            if used <= 0:
                break
            cost += used * tier.price
            lower = upper
        return cost

    def request_cost(self, requests: int) -> float:
        if self.apply_free_tier:
            requests = max(0, requests - FREE_TIER_REQUESTS)
        return requests * self.request_price_per_million / 1e6

    def blended_rate(self, total_gb_seconds: float) -> float:
        """Average price per GB-second over the total (equals the first tier below 6B GB-s)."""
        if total_gb_seconds <= 0:
            return self.flat_price if self.flat_price is not None else self.tiers[0].price
        return self.duration_cost(total_gb_seconds) / total_gb_seconds

    def describe(self) -> dict[str, object]:
        """The `pricing` block of the report: which prices were used and how."""
        known = self.region in SAME_AS_US_EAST_1
        if self.flat_price is not None:
            note = "override (--price-per-gb-second)"
        elif self.region == DEFAULT_REGION:
            note = "AWS list prices, us-east-1"
        elif known:
            note = (f"AWS list prices, us-east-1 table ({self.region} lists the same prices as "
                    "far as we know)")
        else:
            note = f"no price table for {self.region}: us-east-1 list prices used"
        return {
            "architecture": self.architecture,
            "region": self.region,
            "region_source": self.region_source,
            "price_per_gb_second": self.flat_price,
            "tiers": [] if self.flat_price is not None else [
                {"up_to_gb_seconds": t.up_to_gb_seconds, "price_per_gb_second": t.price}
                for t in self.tiers
            ],
            "request_price_per_million": self.request_price_per_million,
            "free_tier_applied": self.apply_free_tier,
            "tiers_scope": "the whole input counted as one month's usage from zero",
            "source": note,
            "not_included": ["ephemeral storage above 512 MB", "provisioned concurrency",
                             "SnapStart cache and restore charges", "data transfer"],
        }
