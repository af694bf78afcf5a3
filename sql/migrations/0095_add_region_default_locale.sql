-- The language a region's dashboard opens in when the browser asks for none onecode
-- speaks (issue 19: zh-CN first, English second). Set by an admin per region.
ALTER TABLE regions
    ADD COLUMN default_locale text NOT NULL DEFAULT 'zh-CN'
        CONSTRAINT regions_default_locale_check CHECK (default_locale IN ('zh-CN', 'en'));
