"""Generated Chinese short texts for pretraining alignlab's tiny base model.

The teaching notebook this toolkit reproduces prompts its model with 15 Chinese openings
(``ZH_PROMPTS``). A model pretrained only on English cannot continue them, so this module writes a
Chinese corpus in which every one of those prompts begins many texts and is continued
grammatically, while a third of the texts open otherwise so that the model sees varied Chinese.

The texts come from a small probabilistic grammar. ``_RULES`` maps a rule name to templates
whose ``{slot}`` fields name either another rule or a word category of ``_LEXICON``; expanding a
rule picks one template and fills its slots at random. A text is an opening sentence on one of
13 topics followed by up to three sentences on the same topic, each tied to what came before by a
relation (addition, example, contrast, consequence, concession) and its connector (而且, 例如,
但是, 因此, 虽然……但是……). Places come with the activities that fit them and flowers with their
season, so the texts also make sense. Everything is drawn from one ``random.Random(seed)``, so a
seed fixes the corpus.

Not every text is fluent. A real small base model writes text of uneven quality, and the seed task
needs that spread: if every sample were well formed, its text-quality reward would leave alignment
nothing to improve. So about 43% of the texts are degraded in one of the ways the reward penalises,
each an imitation of a weak model's output on the same topics and after the same prompts: a fragment
that stops a few characters in, a word stuttered over and over, the opening said again, nouns
strung on commas, the prompt restated, or a text without punctuation. ``ZH_STYLES`` names the
styles and ``generate_zh_texts_with_style`` tells each text's style.

``zh_corpus_stats`` summarises a corpus; its ``vocab_size`` counts the distinct ``ZH_LEXICON``
words found in the texts by forward maximum matching, the usual dictionary segmentation of Chinese,
and its ``degraded_fraction`` the texts without the fluent form.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence

ZH_PROMPTS: tuple[str, ...] = (
    "今天天气很",
    "我真的很喜欢",
    "在我看来，",
    "最棒的是",
    "我认为",
    "人工智能",
    "机器学习模型",
    "深度强化学习",
    "自然语言处理",
    "人工智能的未来",
    "气候变化是",
    "可再生能源",
    "科技的影响",
    "数字时代的教育",
    "文化多样性意味着",
)

ZH_CONNECTORS: tuple[str, ...] = (
    "因为",
    "但是",
    "所以",
    "而且",
    "虽然",
    "然而",
    "因此",
    "不过",
    "同时",
    "例如",
)

# Length bounds of a fluent text; degraded ones may be shorter (fragments) or longer (lists).
MIN_CHARS, MAX_CHARS = 20, 90


def _words(text: str) -> tuple[str, ...]:
    """Split a whitespace-separated word list (keeps the lexicon below compact to read)."""
    return tuple(text.split())


# Word categories. A category is filled only where it reads naturally, so most are narrow
# (foods after 吃, adjectives that follow 很 for the weather, and so on).
_LEXICON: dict[str, tuple[str, ...]] = {
    # weather and the outdoors
    "weather_good": _words("好 晴朗 舒服 凉爽 温暖 暖和 不错 舒适 清爽 宜人 干爽"),
    "weather_bad": _words("糟糕 闷热 潮湿 寒冷 阴沉 差 冷 奇怪 多变 湿冷"),
    "sky_good": _words(
        "阳光明媚 万里无云 微风习习 空气清新 天空湛蓝 风和日丽 秋高气爽 云淡风轻 "
        "春光明媚 晴空万里 阳光灿烂 天高云淡 温度适宜 春暖花开"
    ),
    "sky_bad": _words("乌云密布 阴雨绵绵 狂风大作 大雾弥漫 寒风刺骨 电闪雷鸣 暴雨倾盆 天色灰暗 雨雪交加 风雨交加"),
    "sky_noun": _words("阳光 微风 白云 蓝天 空气 秋风 春风 凉风"),
    "evening_view": _words("晚霞 彩虹 日落 火烧云"),
    "night_view": _words("星空 满月 流星 银河 萤火虫"),
    "bad_weather": _words("雷阵雨 暴雨 大雪 冰雹 台风 寒潮 沙尘暴 大风 冻雨 雾霾 暴风雪 强降温"),
    "weather_change": _words("下雨 降温 刮大风 起雾 变天 下雪 打雷 升温"),
    "time_part": _words("早上 上午 中午 下午 傍晚 晚上 清晨 黄昏 午后 夜里"),
    "day_part": _words("早上 上午 中午 下午 清晨 午后"),
    "time_later": _words("傍晚 晚上 今晚 明天 后天 周末 下午 夜里 下周 明天早上"),
    # Outdoor places come in groups, each with the activities that fit it (see the "spot_act" rule).
    "park": _words("公园 植物园 湿地公园 森林公园 花园 校园 动物园 游乐园"),
    "park_act": _words("散步 跑步 野餐 晒太阳 放风筝 拍照 赏花 打太极拳 遛狗 观鸟 写生 慢跑 跳绳 捉蝴蝶 滑板"),
    "waterside": _words("湖边 河边 江边 海边 海滩"),
    "water_act": _words("散步 钓鱼 划船 看日落 拍照 骑车 吹风 放风筝 捡贝壳"),
    "hill": _words("郊外 乡下 山里"),
    "hill_act": _words("爬山 徒步 露营 观鸟 野餐 骑行 烧烤 看星星"),
    "farm": _words("果园 农场 草莓园"),
    "farm_act": _words("采摘 摘水果 喂小动物 体验农活"),
    "court": _words("操场 体育场 球场 体育公园"),
    "court_act": _words("打篮球 踢足球 打羽毛球 跑步 跳绳 打网球 打排球 踢毽子"),
    "street": _words("老街 步行街 古镇 夜市"),
    "street_act": _words("逛街 拍照 散步 吃小吃 买纪念品 看表演"),
    "place_in": _words(
        "图书馆 咖啡馆 电影院 博物馆 美术馆 书店 商场 体育馆 健身房 茶馆 餐厅 超市 科技馆 天文馆 音乐厅 剧院 水族馆"
    ),
    "indoor_act": _words(
        "看书 看电影 做饭 喝茶 听音乐 写作业 下棋 画画 练字 弹钢琴 打游戏 追剧 睡懒觉 "
        "包饺子 织毛衣 整理房间 写日记 拼图 烤蛋糕 煮咖啡 听广播 做手工 读诗 练瑜伽"
    ),
    "sun_item": _words("帽子 太阳镜 遮阳伞 防晒霜 水壶 草帽"),
    "rain_gear": _words("雨伞 雨衣 雨靴"),
    "rain_item": _words("雨伞 雨衣 雨靴 外套 围巾 手套 毛衣 羽绒服 保温杯"),
    "hot_food": _words("姜汤 热汤 面条 馄饨 热粥 鸡汤 红糖水 热牛奶 酸辣汤 羊肉汤"),
    "bedding": _words("被子 毯子 枕头 床单 棉衣 冬衣"),
    # Flowers by the season they bloom in, so that 冬天 never comes with 油菜花.
    "spring_flower": _words("樱花 桃花 梨花 杏花 迎春花 油菜花 郁金香 海棠 丁香 玉兰 杜鹃花 紫藤 牡丹"),
    "summer_flower": _words("荷花 茉莉花 栀子花 向日葵 薰衣草 绣球花 月季 百合 玫瑰"),
    "autumn_flower": _words("桂花 菊花 芙蓉"),
    "winter_flower": _words("梅花 水仙 山茶花"),
    "summer_fruit": _words("西瓜 荔枝 芒果 桃子 杨梅 樱桃 哈密瓜 葡萄"),
    "winter_act": _words("滑雪 滑冰 看雪景 泡温泉 堆雪人 打雪仗"),
    "tree": _words("银杏 枫树 柳树 松树 梧桐 竹子 榕树 白杨 樟树 槐树"),
    "wild_animal": _words(
        "松鼠 白鹭 野鸭 天鹅 蝴蝶 蜻蜓 喜鹊 鸽子 燕子 刺猬 萤火虫 啄木鸟 鸳鸯 小鹿 麻雀 画眉鸟 黄鹂 蜜蜂 海鸥"
    ),
    "pet": _words("猫 狗 熊猫 兔子 金鱼 鹦鹉 仓鼠 乌龟 小狗 小猫 柯基 金毛"),
    "transport": _words("地铁 公交车 出租车 高铁 火车 飞机 轮船 汽车 电动车 摩托车 自行车"),
    "shop": _words("咖啡馆 书店 面包店 花店 奶茶店 小吃店 甜品店 茶馆 火锅店 面馆 文具店"),
    "season": _words("春天 夏天 秋天 冬天"),
    "seat": _words("窗户 书桌 沙发 阳台 壁炉 火炉 落地窗"),
    "summer_clothes": _words("短袖 裙子 衬衫 凉鞋 短裤 连衣裙 运动服"),
    "warm_clothes": _words("毛衣 外套 围巾 羽绒服 风衣 大衣 秋裤 棉袄"),
    "color": _words("红色 粉色 金黄色 紫色 白色 淡黄色 火红色 橙色 淡紫色"),
    # people
    "person": _words(
        "朋友 家人 同事 邻居 爸爸 妈妈 爷爷 奶奶 姐姐 哥哥 弟弟 妹妹 同学 室友 表哥 表妹 "
        "外婆 外公 舅舅 阿姨 叔叔 老朋友 好朋友"
    ),
    "name": _words(
        "小明 小红 小刚 小丽 小华 小军 小芳 小雨 小林 老王 老李 老张 王老师 李医生 张阿姨 陈叔叔 刘奶奶 赵爷爷"
    ),
    "relative": _words("表妹 表弟 侄子 侄女 外甥 外甥女 堂哥 堂妹 邻居家的孩子"),
    "elder": _words("爷爷 奶奶 外公 外婆 姥姥 老年人 邻居家的老人"),
    "people_group": _words(
        "普通人 年轻人 老年人 科学家 工程师 医生 农民 工人 律师 记者 作家 艺术家 程序员 "
        "设计师 研究人员 企业家 企业 学校 社区 家庭 消费者 用户 教师 公务员 创业者"
    ),
    "profession": _words(
        "医生 护士 教师 工程师 厨师 司机 律师 记者 作家 画家 音乐家 程序员 设计师 科学家 警察 "
        "消防员 快递员 会计 建筑师 翻译 导游 演员 飞行员 编辑 摄影师 银行职员 客服人员 店员 "
        "药剂师 心理咨询师 插画师 配音演员"
    ),
    "people_adj": _words("热情 友好 善良 好客 淳朴 幽默 耐心 真诚 乐观 勤劳"),
    # feelings and judgements
    "feeling": _words("开心 放松 愉快 轻松 满足 舒畅 兴奋 惬意 自在 快乐 幸福 平静 充实 踏实 温馨"),
    "bad_feeling": _words("烦躁 疲惫 无聊 郁闷 沮丧 困倦 懒散 焦虑 低落 压抑"),
    "pleasant": _words("惬意 愉快 美好 浪漫 有趣 舒服 享受 难得"),
    "calm_effect": _words("放松下来 静下心来 忘记烦恼 感到平静 充满活力 保持专注 找到灵感 获得力量 心情变好"),
    "adopt_adj": _words("普及 成熟 可靠 安全 便宜 智能 准确 常见 便捷 精准 实用"),
    "colorful": _words("丰富 精彩 美丽 多彩 有趣 生动"),
    "tiring": _words("麻烦 费时 费力 枯燥 辛苦 困难 复杂"),
    "degree": _words("非常 十分 特别 相当 格外 极其"),
    # idioms: four-character phrases used as predicates
    "scenery_idiom": _words(
        "山清水秀 风景如画 鸟语花香 绿树成荫 五彩缤纷 郁郁葱葱 宁静祥和 古色古香 美不胜收 景色宜人 如诗如画"
    ),
    "crowd_idiom": _words("人山人海 车水马龙 熙熙攘攘 水泄不通 摩肩接踵"),
    "joy_idiom": _words("心旷神怡 兴高采烈 心满意足 其乐融融 神清气爽 喜气洋洋"),
    "story_idiom": _words("回味无穷 意犹未尽 感慨万千 热泪盈眶 深受启发 百感交集"),
    "stay_idiom": _words("流连忘返 乐不思蜀 依依不舍"),
    "progress_idiom": _words("日新月异 突飞猛进 一日千里 令人瞩目 举世瞩目 有目共睹"),
    "culture_idiom": _words("和而不同 美美与共 求同存异 取长补短 兼收并蓄 百花齐放 海纳百川"),
    # food and daily life
    "food": _words(
        "饺子 火锅 面条 包子 馄饨 烤鸭 豆腐 红烧肉 糖醋排骨 麻婆豆腐 小笼包 煎饼果子 螺蛳粉 "
        "热干面 肉夹馍 酸菜鱼 宫保鸡丁 西红柿炒鸡蛋 粽子 月饼 汤圆 年糕 烧烤 寿司 披萨 蛋糕 "
        "冰淇淋 巧克力 臭豆腐 羊肉串 麻辣烫 担担面 刀削面 牛肉面 炸酱面 肠粉 叉烧包 虾饺 烧卖 "
        "蛋挞 菠萝包 锅包肉 地三鲜 东坡肉 白切鸡 水煮鱼 回锅肉 鱼香肉丝 口水鸡 糖葫芦 驴打滚 "
        "桂花糕 绿豆糕 青团 八宝粥 豆花 凉面 手抓饭 大盘鸡 烤馕 凉皮 米线 油条 炒饭 锅贴 "
        "生煎包 葱油饼 酸辣粉 过桥米线 盐水鸭 剁椒鱼头 烤红薯 糖炒栗子 馒头 花卷 烧饼 卤肉饭 "
        "鸡蛋羹 红烧鱼 清蒸鲈鱼 糖醋里脊 京酱肉丝 酸辣土豆丝 番茄牛腩 咖喱鸡 蒸饺 春卷 油泼面 "
        "羊肉泡馍 胡辣汤 米粉 卤鸭脖 烤冷面"
    ),
    "fruit": _words(
        "西瓜 苹果 草莓 葡萄 芒果 荔枝 橘子 香蕉 桃子 樱桃 菠萝 柚子 石榴 哈密瓜 猕猴桃 "
        "榴莲 杨梅 山楂 柿子 蓝莓 龙眼 枇杷 椰子"
    ),
    "sport": _words(
        "篮球 足球 排球 羽毛球 乒乓球 网球 棒球 马拉松 游泳 花样滑冰 冲浪 攀岩 拳击 武术 "
        "射箭 击剑 赛艇 帆船 高尔夫 台球 田径 体操 跳水 短道速滑"
    ),
    "music": _words("流行音乐 古典音乐 摇滚乐 民谣 爵士乐 说唱 电子音乐 乡村音乐 民族音乐 交响乐"),
    "drink": _words(
        "奶茶 咖啡 绿茶 红茶 豆浆 柠檬水 酸梅汤 菊花茶 普洱茶 龙井茶 乌龙茶 茉莉花茶 热可可 椰子汁 果汁 酸奶"
    ),
    "hobby": _words(
        "看书 画画 唱歌 跳舞 游泳 旅行 摄影 弹吉他 弹钢琴 下围棋 写诗 做手工 养花 种菜 烘焙 "
        "做饭 跑步 爬山 骑行 滑雪 潜水 钓鱼 练瑜伽 打乒乓球 打网球 学外语 写小说 看纪录片 "
        "听相声 逛博物馆 拼乐高 集邮 练书法 弹古筝 看话剧 听歌剧 攀岩 冲浪 下象棋 拉二胡 "
        "吹笛子 打排球 滑冰 射箭 观星 插花 剪纸 刺绣 养鱼 玩魔方 打桥牌 跳街舞 唱京剧 做木工 "
        "听播客 玩桌游 看展览 写毛笔字 做模型 学烹饪"
    ),
    "class_topic": _words("摄影 绘画 书法 舞蹈 烹饪 游泳 瑜伽 钢琴 吉他 英语 日语 围棋 编程 陶艺 插花 茶艺"),
    "instrument": _words("钢琴 小提琴 吉他 古筝 二胡 笛子 琵琶 大提琴 架子鼓 萨克斯 口琴 手风琴 尤克里里"),
    "book_kind": _words(
        "科幻小说 武侠小说 推理小说 历史小说 诗歌 散文 童话 漫画 传记 游记 绘本 侦探小说 纪实文学 哲学书"
    ),
    "film_kind": _words("喜剧片 动画片 纪录片 科幻片 爱情片 悬疑片 动作片 战争片 音乐剧 老电影"),
    "gain_noun": _words("成就感 满足感 乐趣 信心 勇气 安全感 灵感 归属感"),
    "illness": _words("感冒 发烧 咳嗽 嗓子疼 头疼 着凉"),
    "chore": _words("打扫卫生 洗衣服 擦窗户 浇花 洗碗 收拾书架 整理衣柜 拖地"),
    "life_value": _words("健康 快乐 家人 朋友 自由 平静 知足 坚持 好奇心 善良 诚实 勇气 感恩 热爱"),
    "days": _words("两天 三天 五天 一个星期 半个月 一个周末"),
    "time_past": _words("周末 星期 月 假期 暑假 寒假"),
    "city": _words(
        "北京 上海 广州 深圳 杭州 成都 重庆 西安 南京 苏州 武汉 长沙 昆明 大理 丽江 厦门 青岛 "
        "大连 哈尔滨 拉萨 桂林 三亚 天津 郑州 洛阳 扬州 绍兴 兰州 贵阳 南宁 福州 济南 合肥 "
        "南昌 沈阳 长春 太原 乌鲁木齐 呼和浩特 西宁 银川 海口 珠海 宁波 无锡 敦煌 香港 澳门 "
        "开封 泉州 景德镇 凤凰古城 喀什 延吉 温州 烟台 威海 秦皇岛 潮州 汕头 佛山 常州 徐州 "
        "九江 岳阳 宜昌 柳州 北海 遵义 平遥 乌镇"
    ),
    "sight": _words(
        "长城 故宫 西湖 泰山 华山 九寨沟 张家界 兵马俑 布达拉宫 鼓浪屿 洱海 漓江 外滩 颐和园 "
        "莫高窟 黄山 峨眉山 青海湖 天池 乐山大佛 千岛湖 壶口瀑布 黄果树瀑布 三峡 天山 "
        "珠穆朗玛峰 呼伦贝尔草原 纳木错 黄鹤楼 岳阳楼 滕王阁 西双版纳 武当山 庐山"
    ),
    "province": _words(
        "云南 四川 贵州 广西 新疆 西藏 内蒙古 甘肃 青海 海南 福建 浙江 江苏 山东 河南 湖南 "
        "湖北 广东 江西 安徽 山西 陕西 黑龙江 吉林 辽宁 河北 宁夏"
    ),
    "nature": _words("大海 高山 河流 湖泊 森林 草原 沙漠 瀑布 峡谷 海岛 雪山 溪流 田园 竹林 梯田"),
    "travel_act": _words("旅游 爬山 看海 看雪 吃美食 拍照 看展览 逛夜市 泡温泉 看演出"),
    "life_gain": _words("收获了很多 认识了很多新朋友 学到了很多 放松了心情 开阔了眼界 更加热爱生活"),
    # artificial intelligence
    "industry": _words(
        "医疗 教育 金融 交通 农业 制造业 零售 物流 法律 新闻 娱乐 游戏 能源 建筑 旅游 餐饮 "
        "保险 广告 电商 客服 翻译 设计 科研 安防 养老 气象 环保 航空 航运 矿业 传媒 影视"
    ),
    "ai_app": _words(
        "医疗诊断 自动驾驶 机器翻译 语音助手 推荐系统 智能客服 人脸识别 药物研发 天气预报 "
        "金融风控 图像识别 语音识别 智能写作 辅助编程 智能家居 工业质检 蛋白质结构预测 "
        "智能交通 精准农业 个性化学习 无人配送 智能搜索 视频剪辑 虚拟助手"
    ),
    "ai_task": _words(
        "诊断疾病 预测天气 翻译文章 写代码 回答问题 整理文件 分析数据 识别图像 规划路线 "
        "撰写报告 检测故障 批改作业 推荐商品 生成图片 总结会议 设计药物 发现新材料 管理日程 "
        "控制机器人 检索资料 校对文稿 制作字幕 规划行程 整理笔记 识别方言 预测销量 修复老照片 "
        "编写教案 审核合同 辅助设计 监测农作物 预警灾害"
    ),
    "ai_concept": _words(
        "算法 数据 算力 模型 神经网络 深度学习 大模型 训练数据 参数 芯片 知识图谱 计算机视觉 "
        "生成式人工智能 通用人工智能 多模态模型 智能体 提示词 对齐 可解释性 大语言模型"
    ),
    "ai_driver": _words("数据 算力 算法 人才 芯片 开源社区 基础研究 跨学科合作 高质量数据"),
    "ai_risk": _words(
        "隐私泄露 算法偏见 虚假信息 失业风险 数据滥用 安全漏洞 版权纠纷 过度依赖 深度伪造 责任归属 信息茧房 技术垄断"
    ),
    "ai_benefit": _words("便利 效率 机遇 新的工作岗位 新的商业模式 更好的医疗服务 个性化的服务"),
    "rule_noun": _words("法律 规则 标准 监管制度 伦理准则 行业规范 法律法规"),
    "medical_item": _words("医学影像 病历 基因数据 化验单 心电图 眼底照片 皮肤照片 体检报告"),
    "future_value": _words("安全 公平 透明度 可解释性 隐私保护 可靠性 伦理 人机协作 可持续性"),
    "science_obj": _words(
        "蛋白质结构 黑洞 气候模型 新材料 药物分子 星系 基因组 地震 病毒 化学反应 古文字 遥远的行星 大脑"
    ),
    "industry_adj": _words("高效 智能 精准 便捷 安全 透明 人性化"),
    "translator": _words("翻译软件 翻译笔 翻译耳机 翻译机 聊天机器人 语音助手"),
    "field": _words(
        "物理学 化学 生物学 医学 天文学 地质学 经济学 社会学 心理学 语言学 统计学 "
        "计算机科学 材料科学 神经科学 认知科学 气象学"
    ),
    # machine learning
    "ml_model": _words(
        "决策树 随机森林 支持向量机 神经网络 卷积神经网络 循环神经网络 逻辑回归 线性回归 "
        "梯度提升树 朴素贝叶斯 聚类算法 生成对抗网络 扩散模型 语言模型 自编码器 图神经网络 "
        "长短期记忆网络 近邻算法"
    ),
    "ml_concept": _words(
        "过拟合 欠拟合 正则化 梯度下降 学习率 损失函数 特征工程 交叉验证 数据增强 迁移学习 "
        "超参数 泛化能力 训练集 测试集 验证集 偏差 方差 反向传播 优化器 嵌入向量 预训练 微调 "
        "注意力机制 激活函数 批量归一化 随机失活"
    ),
    "ml_knob": _words("学习率 批量大小 优化器 损失函数 模型结构 正则化方法 特征 训练轮数 初始化方法"),
    "ml_data": _words(
        "图像 文本 语音 视频 表格数据 传感器数据 医学影像 用户行为 交易记录 卫星图像 时间序列 基因序列 标注数据"
    ),
    "ml_task": _words(
        "预测房价 识别垃圾邮件 检测欺诈 识别手写数字 预测销量 推荐电影 识别人脸 预测用户流失 "
        "分类新闻 检测异常 评估风险 预测股价 识别病虫害 预测交通流量 预测电力负荷 识别语音指令 "
        "估计作物产量 检测肿瘤"
    ),
    "ml_problem": _words("过拟合 欠拟合 梯度消失 梯度爆炸 数据泄露 模式崩溃 灾难性遗忘"),
    "ml_person": _words("数据科学家 算法工程师 研究人员 学生 初学者 工程师"),
    "ml_eval": _words("交叉验证 测试集 验证集 消融实验 对照实验 基准测试"),
    "ml_reg": _words("正则化 早停 数据增强 随机失活 权重衰减 梯度裁剪"),
    "resource": _words("电力 算力 时间 资金 水资源 人力"),
    "percent": _words("百分之九十 百分之九十五 百分之九十八 百分之八十 百分之九十九"),
    # reinforcement learning
    "rl_concept": _words(
        "智能体 环境 奖励 策略 价值函数 状态 动作 探索 回报 折扣因子 经验回放 目标网络 "
        "策略梯度 马尔可夫决策过程 时序差分 蒙特卡洛方法 优势函数 奖励函数 动作空间 状态空间"
    ),
    "rl_design": _words("奖励函数 状态空间 动作空间 探索策略 训练环境 网络结构"),
    "rl_agent": _words("智能体 机器人 程序 计算机 机械臂 无人机"),
    "rl_goal": _words("最优策略 下棋 走路 玩游戏 控制机械臂 驾驶汽车 规划路线"),
    "rl_app": _words(
        "围棋 电子游戏 机器人控制 自动驾驶 推荐系统 芯片设计 量化交易 资源调度 机械臂控制 "
        "无人机飞行 数据中心节能 交通信号控制 对话系统 象棋 机器人行走 核聚变控制"
    ),
    "rl_hparam": _words("折扣因子 学习率 探索率 批量大小 网络结构 奖励尺度 更新频率"),
    "rl_tech": _words("经验回放 目标网络 优势归一化 梯度裁剪 熵正则化 奖励归一化 并行采样"),
    "rl_algo": _words("近端策略优化 信赖域策略优化 演员评论家方法 蒙特卡洛树搜索 时序差分学习 策略梯度方法"),
    "robot_skill": _words("走路 抓取物体 开门 保持平衡 跑步 叠衣服 上楼梯 拧螺丝 倒水"),
    "sim_env": _words("模拟器 游戏环境 虚拟环境 仿真平台 物理引擎"),
    # natural language processing
    "nlp_task": _words(
        "机器翻译 情感分析 文本分类 命名实体识别 问答系统 文本摘要 语音识别 信息抽取 中文分词 "
        "对话系统 拼写纠错 关系抽取 阅读理解 文本生成 语义检索 词性标注"
    ),
    "nlp_unit": _words("词语 句子 段落 语法 语义 上下文 方言 成语 网络用语 标点符号 语气 代词 多义词"),
    "nlp_hard": _words("讽刺 幽默 双关语 言外之意 方言 古诗词 网络用语 反语 隐喻 歇后语"),
    "nlp_product": _words("输入法 语音助手 翻译软件 搜索引擎 智能音箱 聊天机器人 邮件客户端 导航软件"),
    "nlp_method": _words("预训练语言模型 注意力机制 词向量 大规模语料 指令微调 检索增强生成 人类反馈强化学习"),
    "low_resource_language": _words("藏语 维吾尔语 斯瓦希里语 冰岛语 老挝语 蒙古语 彝语 毛利语 壮语"),
    "language": _words("中文 英语 日语 法语 德语 西班牙语 阿拉伯语 俄语 韩语 粤语 葡萄牙语 意大利语 泰语 越南语"),
    # climate and energy
    "climate_effect": _words(
        "海平面上升 冰川融化 极端天气 持续干旱 暴雨洪涝 森林火灾 热浪 物种灭绝 珊瑚白化 "
        "粮食减产 土地荒漠化 水资源短缺 永久冻土融化 海洋酸化"
    ),
    "climate_event": _words("极端天气 热浪 干旱 洪水 森林火灾 台风 暴雨 寒潮 沙尘暴 高温"),
    "climate_cause": _words("燃烧化石燃料 砍伐森林 工业排放 汽车尾气 过度放牧 燃煤发电"),
    "greenhouse": _words("二氧化碳 甲烷 温室气体 氧化亚氮"),
    "climate_action": _words(
        "植树造林 节约用电 绿色出行 减少塑料使用 低碳饮食 保护湿地 提高能效 节约用水 少开车 垃圾分类"
    ),
    "species": _words("北极熊 企鹅 海龟 雪豹 大熊猫 亚洲象 鲸鱼 帝企鹅 驯鹿 红树林 北极狐 海鸟"),
    "sector": _words("钢铁行业 水泥行业 航运业 航空业 建筑业 化工行业 电力行业 交通运输业 畜牧业"),
    "threatened": _words("沿海城市 北极熊 珊瑚礁 农作物 候鸟 野生动物 粮食安全 岛国 冰川 热带雨林 湿地"),
    "world_region": _words("欧洲 非洲 南亚 北美 澳大利亚 东南亚 地中海沿岸 北极地区 南美 中东 太平洋岛国"),
    "econ_cost": _words("成本 负担 压力 开支"),
    "energy_kind": _words("太阳能 风能 水能 地热能 潮汐能 生物质能 波浪能 绿色氢能"),
    "energy_tech": _words(
        "光伏板 风力发电机 储能电池 智能电网 水电站 电动汽车 充电桩 热泵 海上风电场 光热电站 "
        "抽水蓄能电站 特高压输电线路"
    ),
    "home_energy": _words("光伏板 太阳能热水器 热泵 储能电池 充电桩"),
    "energy_plant": _words("光伏电站 风电场 海上风电场 光热电站 水电站 地热电站"),
    # Plants that cover land, the kind a desert or a mountain region is covered with.
    "land_plant": _words("光伏电站 风电场 光热电站"),
    "storage": _words("储能电池 抽水蓄能 智能电网 氢能储存 压缩空气储能 锂电池 钠离子电池 固态电池 液流电池"),
    "region": _words("西北沙漠 沿海地区 偏远山区 农村 海岛 草原牧区 城市屋顶 工业园区 高原 戈壁滩"),
    "fossil": _words("煤炭 石油 天然气 化石燃料"),
    "energy_gain": _words("经济 环境 能源安全 就业 农村发展 空气质量 公共健康"),
    # technology and society
    "tech_thing": _words(
        "智能手机 互联网 社交媒体 电子支付 短视频 网购 云计算 在线会议 导航软件 智能家居 "
        "可穿戴设备 虚拟现实 外卖平台 共享单车 电子书 搜索引擎 视频通话 即时通讯 扫码支付 "
        "在线地图 网约车 直播"
    ),
    "life_adj": _words("方便 便捷 丰富 高效 精彩 轻松 多彩 有趣"),
    "life_aspect": _words(
        "工作方式 沟通方式 购物习惯 生活节奏 人际关系 阅读习惯 娱乐方式 学习方式 出行方式 "
        "思维方式 消费观念 饮食习惯 社交方式"
    ),
    "health_noun": _words("睡眠 视力 注意力 心理健康 专注力 身体健康 颈椎 记忆力"),
    "old_media": _words("报纸 杂志 广播 电视 书信 电报 黑板报"),
    "digital_problem": _words("数字鸿沟 网络诈骗 信息过载 隐私泄露 网络成瘾 假新闻 网络暴力 信息茧房"),
    "feed": _words("短视频 社交媒体 新闻 朋友圈 直播 网络小说"),
    # education
    "edu_tool": _words(
        "在线课程 电子教材 学习平台 智能题库 虚拟实验室 慕课 直播课堂 教育软件 电子白板 "
        "学习应用 数字图书馆 平板电脑 学习机"
    ),
    "edu_skill": _words(
        "创造力 批判性思维 合作能力 自学能力 信息素养 表达能力 沟通能力 好奇心 动手能力 "
        "想象力 独立思考能力 数字素养 解决问题的能力"
    ),
    "edu_adj": _words("灵活 自由 有趣 个性化 便捷 开放 多样 高效 生动"),
    "edu_person": _words("学生 老师 家长 大学生 小学生 中学生 成年人 老年人 上班族"),
    "edu_challenge": _words("数字鸿沟 注意力分散 网络成瘾 信息过载 教育公平"),
    "subject": _words("数学 语文 英语 物理 化学 生物 历史 地理 音乐 美术 编程 哲学 经济学 心理学 天文学 书法 统计学"),
    "new_course": _words("编程 人工智能 机器人 数据分析 网络安全 媒体素养 创客 信息技术"),
    "study_act": _words("完成作业 参加考试 观看讲座 做实验 查资料 提交论文 讨论问题 听公开课"),
    "digital_skill": _words("编程 剪辑视频 制作课件 数据分析 搜索信息 在线协作 打字 信息检索"),
    "teach_act": _words("布置作业 批改作业 讲解难题 组织讨论 展示实验 播放视频 记录成绩 设计测验"),
    "teacher_skill": _words("数字素养 信息技术能力 教学能力 沟通能力 设计课程的能力"),
    "self_skill": _words("自我管理 合理安排时间 独立思考 辨别信息 保持专注 主动提问"),
    # culture
    "culture_item": _words(
        "语言 节日 饮食 音乐 舞蹈 服饰 建筑 宗教信仰 传统习俗 民间故事 手工艺 戏曲 书法 "
        "绘画 茶文化 婚礼习俗 神话传说 礼仪"
    ),
    "festival": _words(
        "春节 中秋节 端午节 元宵节 清明节 重阳节 七夕节 圣诞节 感恩节 排灯节 泼水节 那达慕 狂欢节 开斋节 复活节 火把节"
    ),
    "cn_festival": _words("春节 中秋节 端午节 元宵节"),
    "art_form": _words(
        "京剧 昆曲 相声 皮影戏 剪纸 刺绣 陶艺 水墨画 民歌 爵士乐 探戈 芭蕾 歌剧 木偶戏 越剧 黄梅戏 川剧 年画"
    ),
    "heritage": _words("非物质文化遗产 少数民族语言 传统手工艺 古建筑 方言 古老的民歌 传统村落 老字号"),
    "world_food": _words(
        "寿司 泡菜 咖喱 冬阴功汤 越南粉 法棍 香肠 意大利面 海鲜饭 墨西哥卷饼 土耳其烤肉 "
        "印度飞饼 韩国烤肉 希腊酸奶 拉面 羊角面包"
    ),
    "trad_clothes": _words("汉服 旗袍 和服 纱丽 韩服 奥黛 苏格兰短裙 中山装 唐装"),
    "world_instrument": _words("风笛 手鼓 西塔琴 马头琴 冬不拉 尺八 班卓琴 排箫 热瓦普"),
    "respect_verb": _words("尊重 理解 学习 包容 欣赏 借鉴"),
    "country": _words(
        "日本 韩国 印度 泰国 越南 法国 德国 英国 意大利 西班牙 葡萄牙 希腊 俄罗斯 美国 加拿大 "
        "墨西哥 巴西 阿根廷 秘鲁 智利 埃及 肯尼亚 南非 摩洛哥 土耳其 伊朗 澳大利亚 新西兰 "
        "印度尼西亚 马来西亚 新加坡 蒙古 挪威 瑞典 芬兰 荷兰 瑞士 冰岛 波兰 尼泊尔 丹麦 奥地利 "
        "匈牙利 捷克 以色列 巴基斯坦 斯里兰卡 哈萨克斯坦 古巴 哥伦比亚 埃塞俄比亚 坦桑尼亚"
    ),
    "other_culture": _words("其他文化 不同的习俗 陌生的传统 别人的信仰 外国的节日"),
}

ZH_LEXICON: frozenset[str] = frozenset(w for words in _LEXICON.values() for w in words)

# How each follow-up sentence relates to what came before, and the connectors that say so. An
# empty connector lets the sentence follow on without one, as Chinese often does.
_RELATION_CONNECTORS: dict[str, tuple[str, ...]] = {
    "more": ("而且", "同时，", "另外，", "此外，", ""),
    "example": ("例如，", "比如，", "举个例子，"),
    "contrast": ("但是", "不过，", "然而，", "可是"),
    "result": ("所以", "因此，", "正因为如此，"),
}
# Weather and travel texts tell a story, where 举个例子 or 正因为如此 would read oddly.
_NARRATIVE_CONNECTORS: dict[str, tuple[str, ...]] = {
    "example": ("比如，", "有一次，", ""),
    "result": ("所以", "于是", "因此，"),
}
_NARRATIVE_TOPICS = frozenset({"sunny", "rainy", "life"})
_RELATIONS = ("more", "example", "contrast", "result", "concede")
_RELATION_WEIGHTS = (3, 2, 2, 2, 1)

# Share of drawn openings that start with a prompt. Short degraded texts after a prompt repeat
# often and their repeats are dropped, so about 68% of the kept texts start with one: 0.68 / 15
# gives each prompt about 4.5% of the corpus, well above the 3% that the model needs to see it
# continued often, and leaves a third of the texts to open in other ways.
_PROMPT_SHARE = 0.70

_TOPICS = (
    "sunny",
    "rainy",
    "like",
    "life",
    "ai",
    "ml",
    "rl",
    "nlp",
    "climate",
    "energy",
    "tech",
    "edu",
    "culture",
)

# Opening rule and topic of each prompt; "claim" and "best" openings pick a topic at random.
_PROMPT_OPENINGS: dict[str, tuple[str, str | None]] = {
    "今天天气很": ("open_weather", None),
    "我真的很喜欢": ("open_like", "like"),
    "在我看来，": ("claim", None),
    "最棒的是": ("best", None),
    "我认为": ("claim", None),
    "人工智能": ("open_ai", "ai"),
    "机器学习模型": ("open_ml", "ml"),
    "深度强化学习": ("open_rl", "rl"),
    "自然语言处理": ("open_nlp", "nlp"),
    "人工智能的未来": ("open_ai_future", "ai"),
    "气候变化是": ("open_climate", "climate"),
    "可再生能源": ("open_energy", "energy"),
    "科技的影响": ("open_tech", "tech"),
    "数字时代的教育": ("open_edu", "edu"),
    "文化多样性意味着": ("open_culture", "culture"),
}

_RULES: dict[str, tuple[str, ...]] = {
    # ---- shared framing ----
    "frame": (
        "说实话，",
        "很多人觉得",
        "老实说，",
        "一般来说，",
        "不得不说，",
        "{name}常说，",
        "有人说",
        "越来越多的人认为",
        "我一直觉得",
        "最近我发现",
        "我的看法很简单：",
        "有一点可以肯定：",
        "{name}告诉我，",
        "我越来越相信",
    ),
    "concede_lead": ("但是我仍然认为", "但是总的来说，", "但是我还是觉得", "但是不可否认，"),
    "ask": ("你觉得呢？", "你同意吗？", "你怎么看？", "你也有同样的感受吗？", "你也这样想吗？"),
    # ---- outdoor places with the activities that fit them ----
    "place_out": ("{park}", "{waterside}", "{hill}", "{farm}", "{court}", "{street}"),
    "outdoor_act": ("{park_act}", "{water_act}", "{hill_act}", "{farm_act}", "{court_act}"),
    "spot_act": (
        "{park}{park_act}",
        "{waterside}{water_act}",
        "{hill}{hill_act}",
        "{farm}{farm_act}",
        "{court}{court_act}",
        "{street}{street_act}",
    ),
    "crowd": (
        "{park}里到处都是{park_act}的人",
        "{waterside}到处都是{water_act}的人",
        "{court}上到处都是{court_act}的人",
        "{street}上到处都是{street_act}的游客",
    ),
    # ---- sunny weather ----
    "open_sunny": (
        "今天天气很{weather_good}，{sky_good}",
        "今天天气很{weather_good}，{sky_good}，{sunny_plan}",
        "今天天气很{weather_good}，{sunny_fit}",
        "今天天气很{weather_good}，{day_part}的{sky_noun}让人觉得很{feeling}",
        "今天天气很{weather_good}，{park}里{scenery_idiom}",
    ),
    "sunny_plan": (
        "所以我们决定去{spot_act}",
        "{person}约我去{spot_act}",
        "我打算和{person}一起去{spot_act}",
    ),
    "sunny_fit": (
        "非常适合{outdoor_act}",
        "很适合去{spot_act}",
        "适合和{person}一起去{place_out}走走",
    ),
    "sunny_free": (
        "{day_part}的{sky_noun}特别好，{park}里{scenery_idiom}",
        "难得遇到这么{weather_good}的天气，{sky_good}",
        "{season}的{park}{scenery_idiom}，{sky_good}",
        "一大早，{person}就拉着我去{spot_act}",
    ),
    "sunny_claim": (
        "这样的天气最适合去{spot_act}",
        "{season}是一年中最美的季节",
        "晴天去{spot_act}是一件很{pleasant}的事",
        "好天气能让人的心情变得{feeling}起来",
        "周末应该多去{place_out}走走，少待在家里",
    ),
    "sunny_more": (
        "{crowd}",
        "空气也特别清新",
        "路边的{plant}开得正好",
        "{place_out}旁边新开了一家{shop}",
        "{tree}的叶子在阳光下闪闪发光",
        "湖面上还有几只{wild_animal}",
        "大家都换上了{summer_clothes}",
        "{park}里的{plant}开成了一片{color}的海洋",
        "温度不冷不热，心情也跟着{feeling}起来",
    ),
    "sunny_example": (
        "有人在{spot_act}，有人在{spot_act}",
        "{person}带着小狗在{park}散步",
        "{name}一家人在草地上{park_act}",
        "孩子们在{spot_act}，玩得不亦乐乎",
        "{person}和我在{spot_act}，一个个{joy_idiom}",
    ),
    "sunny_contrast": (
        "{time_later}可能会{weather_change}",
        "天气预报说{time_later}会有{bad_weather}",
        "紫外线比较强，出门最好带上{sun_item}",
        "{place_out}的人有点多",
        "中午的太阳晒得人有点受不了",
    ),
    "sunny_result": (
        "我们决定去{spot_act}",
        "{person}和我约好了去{spot_act}",
        "大家的心情都很{feeling}",
        "我把{bedding}拿出来晒了晒",
        "我们在{place_out}待了整整一个{day_part}",
    ),
    "sunny_best": (
        "，{park}里一点也不拥挤",
        "傍晚还能看到美丽的{evening_view}",
        "，晚上还能在{hill}看到{night_view}",
        "我们在{spot_act}的时候看到了{wild_animal}",
        "，这样的好天气会一直持续到{time_later}",
    ),
    # ---- bad weather ----
    "open_rainy": (
        "今天天气很{weather_bad}，{sky_bad}",
        "今天天气很{weather_bad}，{rainy_stay}",
        "今天天气很{weather_bad}，我一整天都觉得有点{bad_feeling}",
        "今天天气很{weather_bad}，{sky_bad}，{rainy_stay}",
    ),
    "rainy_stay": (
        "我们只好待在家里{indoor_act}",
        "不太适合出门",
        "原定的{outdoor_act}计划只好取消了",
        "我哪儿也不想去，只想在家{indoor_act}",
    ),
    "rainy_free": (
        "外面{sky_bad}，我一个人在家{indoor_act}",
        "一连下了好几天雨，{park}里一个人也没有",
        "{time_part}突然下起了{bad_weather}，街上的行人都跑了起来",
        "窗外{sky_bad}，屋里却很温暖",
        "下了一整天的雨，我坐在{seat}旁边{indoor_act}",
    ),
    "rainy_claim": (
        "这样的天气最适合在家{indoor_act}",
        "下雨天在家{indoor_act}也很{pleasant}",
        "天气不好的时候，人的心情也容易变得{bad_feeling}",
        "雨天去{place_in}待一下午是个不错的选择",
    ),
    "rainy_more": (
        "气温比昨天低了好几度",
        "路上的{transport}都开得很慢",
        "{bad_weather}让很多航班都延误了",
        "外面的风刮得很大",
        "路面上积了很多水",
        "出门要多穿一件{warm_clothes}",
    ),
    "rainy_example": (
        "{person}出门时忘了带{rain_gear}，全身都湿透了",
        "{person}淋了雨，结果{illness}了",
        "{park}里几乎一个人也没有",
        "{name}上班的时候，{transport}晚点了半个小时",
    ),
    "rainy_contrast": (
        "{time_later}天气就会转晴",
        "雨后的空气特别清新",
        "听着雨声{indoor_act}也很{pleasant}",
        "雨停以后，天边出现了一道彩虹",
    ),
    "rainy_result": (
        "我决定在家{indoor_act}",
        "我们趁着下雨在家{chore}",
        "出门一定要带上{rain_item}",
        "{person}给我煮了一碗{hot_food}",
        "我们把{outdoor_act}的计划推迟到了{time_later}",
    ),
    # The drawbacks of bad weather are its upsides, so the generic 虽然 <drawback> form does not fit.
    "rainy_concede": (
        "虽然外面{sky_bad}，但是在家{indoor_act}也别有一番乐趣",
        "虽然不能出去{outdoor_act}，但是和{person}在家{indoor_act}也很{pleasant}",
    ),
    "rainy_best": (
        "，下雨天可以安心地在家{indoor_act}",
        "，{person}给我煮了一碗热腾腾的{hot_food}",
        "，雨停之后还能看到美丽的{evening_view}",
    ),
    # ---- likes ----
    "open_like": (
        "我真的很喜欢{hobby}，{like_reason}",
        "我真的很喜欢吃{person}做的{food}",
        "我真的很喜欢{city}这座城市，{city_reason}",
        "我真的很喜欢{season_like}",
        "我真的很喜欢{media}，{media_reason}",
        "我真的很喜欢{pet}，{pet_reason}",
        "我真的很喜欢和{person}一起{hobby}",
        "我真的很喜欢在{place_in}{indoor_act}的感觉",
        "我真的很喜欢喝{drink}，尤其是在{time_part}",
        "我真的很喜欢看{sport}比赛，{sport_reason}",
        "我真的很喜欢听{music}，{like_reason}",
        "我真的很喜欢{film_kind}，{media_reason}",
    ),
    "media": (
        "这本书",
        "这部电影",
        "这首歌",
        "这部纪录片",
        "这部小说",
        "那部动画片",
        "这首诗",
        "这张专辑",
        "这家餐厅",
        "这家书店",
        "这间咖啡馆",
        "{book_kind}",
        "看{film_kind}",
    ),
    "like_reason": (
        "因为它能让我{calm_effect}",
        "每次{hobby}的时候，我都觉得很{feeling}",
        "它让我认识了很多新朋友",
        "这已经成为我生活的一部分",
        "因为它让我觉得生活很{pleasant}",
    ),
    "city_reason": (
        "这里的人都非常{people_adj}",
        "这里的{food}{degree}好吃",
        "这里的风景{scenery_idiom}",
        "因为这里的生活节奏不快不慢",
    ),
    "season_like": (
        "春天，因为到处都能看到{spring_flower}",
        "春天，{spring_sky}，让人觉得很{feeling}",
        "夏天，因为可以去{waterside}{water_act}",
        "夏天，因为可以吃到又甜又多汁的{summer_fruit}",
        "夏天的傍晚，{summer_flower}的香味飘满了整个院子",
        "秋天，{autumn_sky}，到处都能闻到{autumn_flower}的香味",
        "秋天，银杏和枫树的叶子把整座城市染成了金色",
        "冬天，因为可以和{person}一起去{winter_act}",
        "冬天，雪地里的{winter_flower}开得特别美",
    ),
    "spring_sky": ("春光明媚", "春暖花开", "风和日丽", "春风拂面"),
    "autumn_sky": ("秋高气爽", "天高云淡", "云淡风轻"),
    "plant": ("{spring_flower}", "{summer_flower}", "{autumn_flower}", "{winter_flower}"),
    "media_reason": (
        "每次看完都觉得很{feeling}",
        "它让我明白了{life_value}的意义",
        "里面的故事让我{story_idiom}",
        "我已经推荐给了好几个{person}",
    ),
    "sport_reason": (
        "每次比赛都让人看得热血沸腾",
        "周末经常和{person}一起去现场看",
        "我自己平时也经常锻炼",
    ),
    "pet_reason": (
        "因为它们总是那么可爱",
        "每次回家看到它，我都觉得很{feeling}",
        "它们能让人{calm_effect}",
    ),
    "like_free": (
        "周末的时候，我最喜欢{hobby}",
        "我从小就喜欢{hobby}，到现在已经坚持了很多年",
        "{name}最近迷上了{hobby}，每天都练习",
        "我每天早上都会喝一杯{drink}",
        "谁不喜欢春天呢？春暖花开，到处都是{spring_flower}",
    ),
    "like_claim": (
        "{hobby}是一种很好的放松方式",
        "每个人都应该有一个自己喜欢的爱好",
        "{food}是世界上最好吃的东西之一",
        "{city}是一座值得一去的城市",
        "和{person}一起{hobby}比一个人更有意思",
        "坚持一个爱好可以让人变得更加{feeling}",
    ),
    "like_more": (
        "我每个周末都会去{spot_act}",
        "{person}也和我一样喜欢{hobby}",
        "我还特别喜欢吃{fruit}",
        "我的书架上放满了{book_kind}",
        "我还经常和{person}一起看{film_kind}",
        "我每天上班的路上都会听{music}",
        "最近我还开始学{instrument}了",
        "{hobby}给了我很多{gain_noun}",
    ),
    "like_example": (
        "上个月我和{person}去{city}{travel_act}",
        "我每天都会花半个小时{hobby}",
        "我在{place_in}认识了一个同样喜欢{hobby}的朋友",
        "我收藏了很多关于{hobby}的视频",
    ),
    "like_contrast": (
        "{person}觉得这有点浪费时间",
        "最近工作太忙，很少有时间{hobby}",
        "{food}吃多了对身体不太好",
        "刚开始学的时候，我觉得非常{tiring}",
    ),
    "like_result": (
        "我打算明年去{city}看看",
        "我报名参加了一个{class_topic}班",
        "我的生活变得更加{feeling}了",
        "我买了一本关于{class_topic}的书",
    ),
    "like_concede": (
        "虽然{like_contrast}，但是我还是会想办法挤出时间",
        "虽然{like_contrast}，但是我从来没有想过放弃",
    ),
    "like_best": (
        "，我可以和{person}一起{hobby}",
        "，{city}的{food}又便宜又好吃",
        "，每天下班以后都能{hobby}",
        "，我终于学会了弹{instrument}",
    ),
    # ---- life and travel ----
    "life_free": (
        "上个{time_past}，我和{person}去了{city}",
        "{person}昨天带我去了一家新开的{shop}",
        "去年夏天，我第一次去了{city}",
        "今年国庆节，我们一家人去{province}旅行了{days}",
        "{person}从{province}回来，给我带了一些{fruit}",
        "我们在{city}待了{days}，简直{stay_idiom}",
        "小时候，{elder}经常带我去{spot_act}",
    ),
    "life_claim": (
        "旅行可以开阔人的眼界",
        "{sight}值得每个人去看一看",
        "和{person}在一起的时光总是过得很快",
        "生活中最重要的是{life_value}",
        "去{city}一定要尝尝那里的{food}",
        "人应该多去看看{nature}和{nature}",
    ),
    "life_more": (
        "我们还尝了当地的{food}",
        "当地的人都非常{people_adj}",
        "{person}对当地的{food}赞不绝口",
        "那里的风景{scenery_idiom}",
        "我们还去看了{sight}",
        "白天我们去看{sight}；晚上我们去逛夜市，吃{food}",
        "晚上我们去逛了夜市，买了很多{fruit}",
    ),
    "life_example": (
        "我们在{sight}拍了很多照片",
        "我们在路边的小摊上吃到了正宗的{food}",
        "有一天我们起得很早，去山顶看日出",
    ),
    "life_contrast": (
        "景区里{crowd_idiom}",
        "回来的路上遇到了{bad_weather}",
        "{transport}票很难买",
        "行程安排得有点太赶了",
    ),
    "life_result": (
        "我们决定明年再来一次",
        "这次旅行让我{life_gain}",
        "我把照片都发给了{person}",
        "我对{city}有了全新的认识",
    ),
    "life_best": (
        "，我们在{city}吃到了地道的{food}",
        "，当地人都非常{people_adj}",
        "，这次旅行让我{life_gain}",
        "，{person}也和我们一起去了",
    ),
    # ---- artificial intelligence ----
    "open_ai": (
        "人工智能正在深刻地改变{industry}领域",
        "人工智能可以帮助我们{ai_task}",
        "人工智能已经被广泛应用于{ai_app}和{ai_app}等领域",
        "人工智能的发展{progress_idiom}",
        "人工智能不是要取代人类，而是要帮助人类把工作做得更好",
        "人工智能的发展离不开{ai_driver}",
        "人工智能既带来了{ai_benefit}，也带来了{ai_risk}等问题",
        "人工智能可以帮助医生更早地发现疾病",
        "人工智能在{field}研究中发挥着越来越大的作用",
    ),
    "open_ai_future": (
        "人工智能的未来充满了机遇和挑战",
        "人工智能的未来取决于我们今天做出的选择",
        "人工智能的未来离不开{ai_driver}的进步",
        "人工智能的未来在于与人类合作，而不是竞争",
        "人工智能的未来会更加注重{future_value}",
        "人工智能的未来可能会比我们想象的来得更快",
        "人工智能的未来需要{people_group}、{people_group}和政府共同参与",
        "人工智能的未来应该是让每个人都能受益",
    ),
    "ai_free": (
        "随着{ai_concept}的进步，{ai_app}变得越来越{adopt_adj}",
        "最近几年，{ai_app}的发展{progress_idiom}",
        "在{industry}领域，越来越多的工作开始借助人工智能",
        "{name}说，他现在每天都用语音助手{ai_task}",
    ),
    "ai_claim": (
        "人工智能会让{industry}变得更加{industry_adj}",
        "{ai_app}会在未来几年变得越来越{adopt_adj}",
        "我们应该认真对待{ai_risk}的问题",
        "每个人都应该学会和人工智能相处",
        "{ai_driver}是推动人工智能发展的关键",
        "{ai_concept}是理解现代人工智能的基础",
    ),
    "ai_more": (
        "{ai_app}已经走进了我们的日常生活",
        "越来越多的人开始用它来{ai_task}",
        "它在{rl_app}上的表现甚至超过了人类专家",
        "{ai_app}的准确率也在不断提高",
    ),
    "ai_example": (
        "医生可以用它来分析{medical_item}",
        "{ai_app}可以帮助{people_group}节省大量的时间",
        "有的公司用它来{ai_task}，有的学校用它来{teach_act}",
        "在{industry}领域，人工智能已经得到了广泛应用",
        "科学家用它来研究{science_obj}",
        "就连{profession}也开始用它来{ai_task}",
    ),
    "ai_contrast": (
        "它也可能带来{ai_risk}等风险",
        "我们不能忽视{ai_risk}的问题",
        "目前的技术还远远不够{adopt_adj}",
        "很多{profession}担心自己的工作会被取代",
    ),
    "ai_result": (
        "我们需要制定更加完善的{rule_noun}",
        "学习一些{ai_concept}的知识变得越来越重要",
        "{people_group}需要不断学习新的技能",
        "人和机器的分工将会重新划分",
    ),
    "ai_best": (
        "，人工智能可以帮助我们{ai_task}",
        "，{ai_app}让很多{people_group}的工作变得更轻松了",
        "，{ai_app}的成本越来越低了",
    ),
    # ---- machine learning ----
    "open_ml": (
        "机器学习模型需要大量的{ml_data}来训练",
        "机器学习模型可以从{ml_data}中发现隐藏的规律",
        "机器学习模型的效果很大程度上取决于数据的质量",
        "机器学习模型如果训练不当，很容易出现{ml_problem}",
        "机器学习模型已经可以用来{ml_task}",
        "机器学习模型越来越大，训练成本也越来越高",
        "机器学习模型并不是越复杂越好",
        "机器学习模型只是工具，最终还需要人来判断",
    ),
    "ml_free": (
        "训练{ml_model}的时候，{ml_knob}的选择非常关键",
        "我最近在学习{ml_model}，发现{ml_concept}比想象中难懂",
        "{ml_person}每天要花很多时间清洗{ml_data}",
        "用{ml_model}{ml_task}，是很多课程的第一个练习",
    ),
    "ml_claim": (
        "{ml_model}是初学者最容易理解的模型之一",
        "数据的质量比模型的复杂度更重要",
        "{ml_concept}是每个{ml_person}都必须掌握的概念",
        "理解{ml_concept}对训练模型很有帮助",
        "简单的{ml_model}往往是一个很好的起点",
    ),
    "ml_more": (
        "{ml_concept}也会影响最终的效果",
        "训练之前还需要仔细地清洗数据",
        "选择合适的{ml_knob}同样非常关键",
        "{ml_model}和{ml_model}各有各的优点",
    ),
    "ml_example": (
        "{ml_model}可以用来{ml_task}",
        "很多公司用它来{ml_task}",
        "有人用{ml_model}{ml_task}，准确率超过了{percent}",
        "银行用它来检测欺诈，医院用它来分析{medical_item}",
    ),
    "ml_contrast": (
        "模型也可能学到数据中的偏见",
        "如果数据太少，模型就很容易{ml_problem}",
        "{ml_model}的结果往往很难解释",
        "训练一个大模型需要消耗大量的{resource}",
    ),
    "ml_result": (
        "我们需要用{ml_eval}来检验模型",
        "在训练时加入{ml_reg}是很有必要的",
        "理解模型的局限性非常重要",
        "{ml_person}越来越重视数据的收集和标注",
    ),
    "ml_best": (
        "，训练好的模型可以不断地用新数据改进",
        "，{ml_model}只需要几行代码就能训练",
        "，开源社区分享了大量的{ml_data}",
    ),
    # ---- deep reinforcement learning ----
    "open_rl": (
        "深度强化学习让{rl_agent}通过不断试错来学习{rl_goal}",
        "深度强化学习把深度神经网络和强化学习结合在了一起",
        "深度强化学习已经在{rl_app}中取得了惊人的成果",
        "深度强化学习的核心是让智能体最大化长期的累积奖励",
        "深度强化学习需要精心设计{rl_design}",
        "深度强化学习的训练过程往往很不稳定",
        "深度强化学习也被用来让语言模型的回答更符合人类的偏好",
    ),
    "rl_free": (
        "在强化学习中，{rl_concept}和{rl_concept}是两个最基本的概念",
        "研究人员用{rl_algo}训练了一个会{robot_skill}的机器人",
        "一个好的{rl_design}能让智能体学得更快",
        "{rl_app}是检验强化学习算法的理想场景",
    ),
    "rl_claim": (
        "{rl_design}的设计比算法本身更重要",
        "{rl_concept}是理解强化学习的关键",
        "强化学习和人类学习的方式有很多相似之处",
        "{rl_algo}是入门强化学习最好的算法之一",
    ),
    "rl_more": (
        "智能体需要在探索和利用之间找到平衡",
        "{rl_tech}可以让训练变得更加稳定",
        "智能体观察状态，选择动作；环境给出奖励，智能体再据此改进策略",
        "它需要大量的交互数据",
        "{rl_hparam}的选择也会影响学习的速度",
    ),
    "rl_example": (
        "{rl_app}就是一个典型的例子",
        "一个{rl_agent}可以在{sim_env}中学会{robot_skill}",
        "{rl_algo}在很多任务上都取得了不错的效果",
    ),
    "rl_contrast": (
        "奖励函数设计得不好，智能体就会钻空子",
        "它的样本效率通常很低",
        "在真实世界中训练机器人的成本很高",
        "训练结果对{rl_tech}之类的细节非常敏感",
    ),
    "rl_result": (
        "研究人员通常先在{sim_env}中训练智能体",
        "调参往往需要大量的经验和耐心",
        "{rl_tech}几乎成了标准做法",
    ),
    "rl_best": (
        "，智能体能自己发现人类没有想到的策略",
        "，{rl_agent}在{sim_env}里学会了{robot_skill}",
    ),
    # ---- natural language processing ----
    "open_nlp": (
        "自然语言处理让计算机能够理解和生成人类的语言",
        "自然语言处理是人工智能中最有挑战性的方向之一",
        "自然语言处理包括{nlp_task}、{nlp_task}和{nlp_task}等任务",
        "自然语言处理在{nlp_task}方面取得了很大的进步",
        "自然语言处理需要处理{nlp_unit}带来的歧义",
        "自然语言处理对{language}来说有独特的挑战",
        "自然语言处理已经悄悄地进入了我们的日常生活",
    ),
    "nlp_free": (
        "手机里的{nlp_product}其实用到了很多{nlp_task}技术",
        "{name}每天都用翻译软件把{language}翻译成{language}",
        "大语言模型出现以后，{nlp_task}的效果提高了很多",
        "计算机理解{nlp_unit}的能力越来越强",
    ),
    "nlp_claim": (
        "{nlp_task}是自然语言处理中最实用的技术之一",
        "理解{nlp_hard}是语言模型最难做到的事情之一",
        "大语言模型改变了自然语言处理的研究方式",
        "中文的{nlp_unit}比很多人想象的更难处理",
    ),
    "nlp_more": (
        "{nlp_task}的准确率也在不断提高",
        "{language}和{language}之间的翻译越来越准确",
        "模型还需要理解{nlp_unit}和{nlp_unit}",
    ),
    "nlp_example": (
        "手机上的{nlp_product}就用到了{nlp_task}",
        "{translator}可以把{language}翻译成{language}",
        "电商平台用{nlp_task}来分析用户的评论",
    ),
    "nlp_contrast": (
        "计算机仍然很难理解{nlp_hard}",
        "{low_resource_language}的训练数据相对较少",
        "模型有时会一本正经地编造事实",
    ),
    "nlp_result": (
        "研究人员开始使用{nlp_method}",
        "人和机器之间的交流变得越来越自然",
        "{nlp_product}变得越来越好用了",
    ),
    "nlp_best": (
        "，我们可以用自己的母语和计算机对话",
        "，{nlp_product}能听懂{language}了",
    ),
    # ---- climate change ----
    "open_climate": (
        "气候变化是全人类共同面临的挑战",
        "气候变化是一个需要全球合作的问题",
        "气候变化是当今世界最紧迫的问题之一",
        "气候变化是由{climate_cause}等人类活动引起的",
        "气候变化是一个不容忽视的现实",
        "气候变化是导致{climate_effect}的主要原因",
        "气候变化是一个刻不容缓的问题",
        "气候变化是一场考验：我们一方面要减少排放；另一方面要适应已经发生的变化",
    ),
    "climate_free": (
        "近年来，{climate_event}在世界各地越来越常见",
        "科学家警告说，{climate_effect}的速度正在加快",
        "{world_region}今年又经历了一场罕见的{climate_event}",
        "为了减少{greenhouse}的排放，很多城市开始鼓励{climate_action}",
    ),
    "climate_claim": (
        "{climate_action}是每个人都能做到的",
        "应对气候变化需要{people_group}和政府共同努力",
        "{climate_effect}会影响数亿人的生活",
        "发达国家应该承担更多的责任",
        "减少{greenhouse}排放是当务之急",
    ),
    "climate_more": (
        "{climate_event}也越来越频繁",
        "{climate_effect}正在威胁{threatened}",
        "全球平均气温已经上升了一度多",
        "{climate_effect}和{climate_effect}的影响会持续很多年",
        "{species}的栖息地正在不断缩小",
        "{sector}的碳排放占了很大的比例",
    ),
    "climate_example": (
        "{world_region}的{climate_event}比以前更加严重了",
        "今年夏天，很多城市都经历了{climate_event}",
        "一些太平洋岛国可能会因为海平面上升而消失",
    ),
    "climate_contrast": (
        "很多国家的减排承诺还没有落实",
        "减少排放会在短期内增加{econ_cost}",
        "仍然有人怀疑气候变化的真实性",
        "{climate_cause}的问题很难在短时间内解决",
    ),
    "climate_result": (
        "各国需要加快能源转型",
        "{sector}必须加快绿色转型",
        "每个人都应该从{climate_action}做起",
        "保护{threatened}变得越来越重要",
    ),
    "climate_best": (
        "，越来越多的年轻人开始关注气候问题",
        "，{climate_action}已经成为很多人的生活习惯",
    ),
    # ---- renewable energy ----
    "open_energy": (
        "可再生能源，比如{energy_kind}和{energy_kind}，正在快速发展",
        "可再生能源的成本在过去十年里大幅下降了",
        "可再生能源是实现碳中和的关键",
        "可再生能源正在逐渐取代{fossil}",
        "可再生能源可以为{region}提供清洁的电力",
        "可再生能源在全球能源结构中的比例越来越高",
        "可再生能源不会像化石燃料那样排放大量的{greenhouse}",
        "可再生能源包括{energy_kind}、{energy_kind}和{energy_kind}等",
    ),
    "energy_free": (
        "{region}建起了一大片{land_plant}",
        "{province}的{energy_plant}每年能发出大量的清洁电力",
        "越来越多的家庭在屋顶装上了{home_energy}",
        "{energy_tech}的价格这几年降了很多",
        "走在{region}，随处可以看到{energy_tech}",
    ),
    "energy_claim": (
        "{energy_kind}是最有潜力的清洁能源之一",
        "每个家庭都可以考虑安装{home_energy}",
        "发展{energy_kind}对{energy_gain}很有好处",
        "{energy_tech}会成为未来能源系统的核心",
    ),
    "energy_more": (
        "{energy_tech}的技术也越来越成熟",
        "{region}非常适合发展{energy_kind}",
        "越来越多的人开始开电动汽车",
        "它还创造了大量的就业机会",
    ),
    "energy_example": (
        "{region}建起了大片的{land_plant}",
        "很多城市的公交车已经换成了电动公交车",
        "一些村庄靠{energy_kind}实现了电力自给",
    ),
    "energy_contrast": (
        "太阳能和风能的发电量会受天气影响",
        "储能技术仍然是一个难题",
        "建设{energy_plant}需要占用大量土地",
        "电网还需要进一步升级",
    ),
    "energy_result": (
        "发展{storage}变得越来越重要",
        "{fossil}的使用量正在逐年减少",
        "电价也有望进一步降低",
    ),
    "energy_best": (
        "，{energy_kind}几乎是取之不尽、用之不竭的",
        "，{region}的居民用上了便宜的清洁电力",
    ),
    # ---- technology and society ----
    "open_tech": (
        "科技的影响无处不在",
        "科技的影响已经深入到生活的方方面面",
        "科技的影响既有积极的一面，也有消极的一面",
        "科技的影响远远超出了我们的想象",
        "科技的影响在{industry}领域尤为明显",
        "科技的影响让我们的{life_aspect}发生了巨大的变化",
        "科技的影响好坏，取决于我们如何使用它",
        "科技的影响有两面：它让生活更加{life_adj}；它也带来了{digital_problem}等新的烦恼",
    ),
    "tech_free": (
        "自从有了{tech_thing}，我们的{life_aspect}变了很多",
        "现在出门只要带一部手机，{tech_thing}解决了很多问题",
        "{name}说，十年前根本想象不到{tech_thing}会这么普及",
        "随着{tech_thing}的普及，{life_aspect}也在悄悄改变",
    ),
    "tech_claim": (
        "{tech_thing}彻底改变了我们的{life_aspect}",
        "{tech_thing}让生活变得更加{life_adj}",
        "过度使用{tech_thing}会影响{health_noun}",
        "科技的发展应该以人为本",
    ),
    "tech_more": (
        "{tech_thing}也让人与人之间的联系更加紧密了",
        "我们的{life_aspect}也和以前完全不同了",
        "就连{elder}也学会了使用{tech_thing}",
    ),
    "tech_example": (
        "以前买东西要去商店，现在用手机就能下单",
        "以前人们通过{old_media}获取消息，现在用手机就够了",
        "现在很多人出门只带一部手机",
        "{person}每天都要花好几个小时刷{feed}",
        "我们可以通过视频通话和远方的{person}聊天",
    ),
    "tech_contrast": (
        "很多人越来越离不开{tech_thing}",
        "{digital_problem}也成为了新的社会问题",
        "老年人往往很难跟上科技的步伐",
    ),
    "tech_result": (
        "我们应该学会合理地使用{tech_thing}",
        "保护个人隐私变得越来越重要",
        "{people_group}需要不断适应新的变化",
    ),
    "tech_best": (
        "，{tech_thing}让远隔千里的家人也能天天见面",
        "，{elder}也能用{tech_thing}了",
    ),
    # ---- education in the digital age ----
    "open_edu": (
        "数字时代的教育更加注重培养学生的{edu_skill}",
        "数字时代的教育需要老师和家长共同努力",
        "数字时代的教育不再局限于教室和课本",
        "数字时代的教育让学习变得更加{edu_adj}",
        "数字时代的教育面临着{edu_challenge}等新的挑战",
        "数字时代的教育应该让每个孩子都有平等的学习机会",
        "数字时代的教育离不开{edu_tool}的帮助",
    ),
    "edu_free": (
        "现在的{edu_person}可以通过{edu_tool}随时学习",
        "我的{relative}在网上自学了{subject}",
        "很多学校开设了{new_course}课，学生们都很感兴趣",
        "{name}每天晚上都用{edu_tool}复习{subject}",
    ),
    "edu_claim": (
        "{edu_skill}比记住知识更重要",
        "{edu_tool}让偏远地区的孩子也能上到好课",
        "老师的角色正在从讲授者变成引导者",
        "学生应该学会在海量信息中辨别真假",
        "学习{subject}的方式和以前完全不同了",
    ),
    "edu_more": (
        "{edu_tool}也让{edu_person}可以随时随地学习",
        "{edu_person}可以根据自己的节奏安排学习",
        "学生在网上就能{study_act}",
        "很多学校开设了{new_course}课",
    ),
    "edu_example": (
        "学生可以通过{edu_tool}学习{subject}",
        "有的老师用{edu_tool}来{teach_act}",
        "我的{relative}就在网上自学了{subject}",
    ),
    "edu_contrast": (
        "屏幕时间太长会影响孩子的{health_noun}",
        "并不是所有家庭都有条件使用{edu_tool}",
        "网上的信息良莠不齐",
        "面对面的交流仍然是不可替代的",
    ),
    "edu_result": (
        "老师需要不断提升自己的{teacher_skill}",
        "{edu_person}需要学会{self_skill}",
        "教育公平问题需要得到更多的关注",
        "学生还应该掌握{digital_skill}和{digital_skill}等基本技能",
    ),
    "edu_best": (
        "，{edu_person}可以免费学习世界名校的课程",
        "，{edu_tool}能根据每个学生的情况推荐练习",
    ),
    # ---- cultural diversity ----
    "open_culture": (
        "文化多样性意味着不同的{culture_item}和{culture_item}可以共存",
        "文化多样性意味着尊重每一种文化的独特价值",
        "文化多样性意味着我们可以从不同的文化中学到很多东西",
        "文化多样性意味着世界因为差异而更加{colorful}",
        "文化多样性意味着每个民族都有权保留自己的{culture_item}",
        "文化多样性意味着{culture_idiom}",
    ),
    "culture_free": (
        "在{city}，可以吃到来自世界各地的美食",
        "每年{festival}的时候，{country}的街头都特别热闹",
        "{name}去{country}留学以后，学会了很多当地的{culture_item}",
        "这几年，{art_form}在年轻人中又流行了起来",
    ),
    "culture_claim": (
        "{culture_item}是一个民族最宝贵的财富之一",
        "了解其他国家的{culture_item}可以开阔我们的视野",
        "{art_form}是值得保护的文化遗产",
        "保护{heritage}需要年轻一代的参与",
        "不同文化之间应该相互{respect_verb}",
    ),
    "culture_more": (
        "越来越多的外国人开始过{cn_festival}",
        "在{city}可以吃到{world_food}、{world_food}和{world_food}",
        "很多年轻人开始学习{art_form}",
        "越来越多的年轻人喜欢穿着{trad_clothes}拍照",
        "{language}里有很多其他语言无法翻译的词语",
    ),
    "culture_example": (
        "{festival}就是一个很好的例子",
        "{world_instrument}的声音里藏着一个民族的记忆",
        "在{country}，人们用不同的方式庆祝新年",
        "{city}的街头可以听到好几种不同的方言",
        "{province}生活着很多民族，每个民族都有自己的{culture_item}",
    ),
    "culture_contrast": (
        "全球化也让一些{heritage}面临消失的危险",
        "文化差异有时也会带来误解",
        "有些人对陌生的文化仍然抱有偏见",
    ),
    "culture_result": (
        "我们应该以开放的心态去了解{other_culture}",
        "学习一门外语是了解另一种文化的好办法",
        "多去{country}这样的地方看看，对开阔视野很有帮助",
    ),
    "culture_best": (
        "，我们可以在{festival}的时候体验{country}的文化",
        "，{art_form}和{art_form}都在年轻人中重新流行了起来",
    ),
}

_SLOT = re.compile(r"\{(\w+)\}")


def _compile(template: str) -> tuple[str, ...]:
    """Split a template into alternating literal text (even indices) and slot names (odd)."""
    return tuple(_SLOT.split(template))


_GRAMMAR: dict[str, tuple[tuple[str, ...], ...]] = {
    name: tuple(_compile(t) for t in templates) for name, templates in _RULES.items()
}


def _expand(symbol: str, rng: random.Random) -> str:
    """Expand a rule: pick one of its templates and fill every slot, recursively."""
    parts = rng.choice(_GRAMMAR[symbol])
    out: list[str] = []
    taken: set[str] = set()
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(part)
        elif part in _LEXICON:
            out.append(_draw_word(_LEXICON[part], taken, rng))
        else:
            out.append(_expand(part, rng))
    return "".join(out)


def _draw_word(words: tuple[str, ...], taken: set[str], rng: random.Random) -> str:
    """Draw a word not yet used in this template, so "X和X" never happens."""
    word = rng.choice(words)
    for _ in range(8):
        if word not in taken:
            break
        word = rng.choice(words)
    taken.add(word)
    return word


def _sentence(clause: str, rng: random.Random) -> str:
    """End a clause with 。 (mostly) or ！, unless it already ends in its own punctuation."""
    if clause.endswith(("。", "！", "？")):
        return clause
    return clause + ("！" if rng.random() < 0.1 else "。")


def _opening(rng: random.Random) -> tuple[str, str]:
    """Return an opening clause and its topic; ``_PROMPT_SHARE`` of them start with a prompt."""
    if rng.random() < _PROMPT_SHARE:
        prompt = rng.choice(ZH_PROMPTS)
        rule, topic = _PROMPT_OPENINGS[prompt]
        if rule == "open_weather":
            # Good and bad weather go on differently (a walk in the park, a day indoors).
            topic = rng.choice(("sunny", "rainy"))
            return _expand(f"open_{topic}", rng), topic
        if topic is None:
            topic = rng.choice(_TOPICS)
            return prompt + _expand(f"{topic}_{rule}", rng), topic
        return _expand(rule, rng), topic
    topic = rng.choice(_TOPICS)
    if rng.random() < 0.5:
        return _expand(f"{topic}_free", rng), topic
    return _expand("frame", rng) + _expand(f"{topic}_claim", rng), topic


def _follow_up(topic: str, relation: str, rng: random.Random) -> str:
    """One sentence that continues ``topic`` in the given relation, connector included."""
    if relation == "concede" and f"{topic}_concede" in _RULES:
        return _expand(f"{topic}_concede", rng)
    if relation == "concede":
        # 虽然 <a drawback>，但是 <the claim still holds>
        contrast = _expand(f"{topic}_contrast", rng)
        return f"虽然{contrast}，{_expand('concede_lead', rng)}{_expand(f'{topic}_claim', rng)}"
    connectors = _RELATION_CONNECTORS[relation]
    if topic in _NARRATIVE_TOPICS:
        connectors = _NARRATIVE_CONNECTORS.get(relation, connectors)
    connector = rng.choice(connectors)
    return connector + _expand(f"{topic}_{relation}", rng)


_TERMINAL = re.compile(r"[。！？]")


def _repeats(sentence: str, text: str) -> bool:
    """Whether ``sentence`` shares a span of 6 characters with ``text`` (a template used twice)."""
    return any(sentence[i : i + 6] in text for i in range(len(sentence) - 5))


def _text(rng: random.Random) -> str:
    """One fluent text: an opening and follow-ups, 1 to 4 sentences kept within MAX_CHARS."""
    clause, topic = _opening(rng)
    text = _sentence(clause, rng)
    target = rng.choices((1, 2, 3, 4), weights=(12, 33, 35, 20))[0]
    relations = list(_RELATIONS)
    weights = list(_RELATION_WEIGHTS)
    while (
        relations
        and len(_TERMINAL.findall(text)) < 4
        and (len(_TERMINAL.findall(text)) < target or len(text) < MIN_CHARS)
    ):
        # Each relation at most once per text, and no clause twice: no connector or sentence loops.
        k = rng.choices(range(len(relations)), weights=weights)[0]
        relation = relations.pop(k)
        weights.pop(k)
        sentence = _sentence(_follow_up(topic, relation, rng), rng)
        if len(text) + len(sentence) <= MAX_CHARS and not _repeats(sentence, text):
            text += sentence
    if len(_TERMINAL.findall(text)) < 4 and len(text) <= MAX_CHARS - 8 and rng.random() < 0.06:
        text += _expand("ask", rng)
    return text


# ---- degraded texts (see the module docstring) ----
# Shares of the draws. The seed reward gives fluent texts about 0.94 and degraded ones about 0.34.
# Short degraded texts repeat more often and repeats are dropped, so about 43% of the kept texts are
# degraded rather than the 48% drawn.
_STYLE_SHARES: dict[str, float] = {
    "fluent": 0.52,
    "fragment": 0.12,  # stops a few characters after the opening: 我真的很喜欢吃
    "stutter": 0.08,  # one word over and over: 今天天气很好好好, 喜欢吃火锅吃火锅吃火锅
    "loop": 0.07,  # the opening sentence or clause again: A。A。 or A。B。A。
    "list": 0.06,  # nouns strung on commas, no connector, no final mark
    "echo": 0.09,  # the prompt restated: 人工智能就是人工智能
    "unpunctuated": 0.05,  # a fluent text that lost all its punctuation
}
ZH_STYLES: tuple[str, ...] = tuple(_STYLE_SHARES)

# Longest first, so that a text opening with 人工智能的未来 is not taken for one opening with 人工智能.
_PROMPTS_LONGEST_FIRST = tuple(sorted(ZH_PROMPTS, key=len, reverse=True))

# Lexicon categories that a run-on list on each topic draws its nouns from.
_LIST_CATEGORIES: dict[str, tuple[str, ...]] = {
    "sunny": ("park", "park_act", "sky_good", "sun_item"),
    "rainy": ("bad_weather", "rain_item", "hot_food", "indoor_act"),
    "like": ("food", "fruit", "hobby", "drink", "sport"),
    "life": ("city", "sight", "food", "nature"),
    "ai": ("ai_app", "ai_concept", "industry", "ai_risk"),
    "ml": ("ml_model", "ml_concept", "ml_data", "ml_task"),
    "rl": ("rl_concept", "rl_app", "rl_algo"),
    "nlp": ("nlp_task", "nlp_unit", "nlp_product", "language"),
    "climate": ("climate_effect", "climate_event", "greenhouse", "climate_action"),
    "energy": ("energy_kind", "energy_tech", "storage", "region"),
    "tech": ("tech_thing", "life_aspect", "digital_problem"),
    "edu": ("edu_tool", "subject", "edu_skill", "edu_person"),
    "culture": ("culture_item", "festival", "art_form", "world_food"),
}


def _prompt_of(text: str) -> str:
    """The prompt that ``text`` starts with, or "" if none."""
    return next((p for p in _PROMPTS_LONGEST_FIRST if text.startswith(p)), "")


def _first_clause(text: str) -> str:
    """``text`` up to its first punctuation mark, a leading comma or colon skipped."""
    return _PUNCT_SPLIT.split(text.lstrip("，："), maxsplit=1)[0]


def _lead(text: str, max_chars: int, rng: random.Random) -> str:
    """A few characters from the start of ``text``'s first clause, ending on a word where possible.

    The cut falls at the end of a lexicon word within ``max_chars`` characters (a model that stops
    early still tends to stop after a word), else anywhere from the second character on.
    """
    clause = _first_clause(text)
    ends = [start + len(word) for start, word in _segment(clause) if start + len(word) <= max_chars]
    if ends:
        return clause[: rng.choice(ends)]
    return clause[: rng.randint(min(2, max_chars, len(clause)), max_chars)]


def _head(clause: str, rng: random.Random) -> str:
    """What a degraded text keeps of an opening clause: its prompt, or else a short first clause.

    Openings without a prompt often start with a short frame (说实话，一般来说，); any other first
    clause is cut to a lead of a few characters, leaving at least one to go on with.
    """
    prompt = _prompt_of(clause)
    if prompt:
        return prompt
    first = _first_clause(clause)
    if len(first) <= 8 and clause[len(first) : len(first) + 1] in ("，", "："):
        return first
    return _lead(first, max(1, min(6, len(first) - 1)), rng)


def _rest(clause: str, head: str) -> tuple[str, str]:
    """The clause after ``head``, split into its leading comma or colon (if any) and the rest."""
    rest = clause[len(head) :]
    mark = rest[:1] if rest[:1] in ("，", "：") else ""
    return mark, rest[len(mark) :]


def _maybe_end(text: str, p: float, rng: random.Random) -> str:
    """``text`` with a final 。 with probability ``p``: weak models often just stop."""
    return text + "。" if rng.random() < p else text


def _fragment(rng: random.Random) -> str:
    """The opening cut off a few characters after its prompt (or lead), mostly with no final mark."""
    clause, _ = _opening(rng)
    head = _head(clause, rng)
    comma, rest = _rest(clause, head)
    piece = _lead(rest, rng.choice((1, 2, 3, 4, 6)), rng)
    return _maybe_end(head + comma + piece, 0.3, rng)


def _stutter(rng: random.Random) -> str:
    """The first word after the prompt said three to five times: 今天天气很好好好."""
    clause, _ = _opening(rng)
    head = _head(clause, rng)
    comma, rest = _rest(clause, head)
    word = _lead(rest, 4, rng)
    separator = "，" if rng.random() < 0.3 else ""
    times = rng.choice((3, 4, 5))
    return _maybe_end(head + comma + separator.join([word] * times), 0.3, rng)


def _loop(rng: random.Random) -> str:
    """The opening said again: the sentence twice or thrice, around a follow-up, or its clause."""
    clause, topic = _opening(rng)
    form = rng.choice(("twice", "around", "clause"))
    if form == "clause":
        return "，".join([_first_clause(clause)] * rng.choice((2, 3, 4)))
    sentence = _sentence(clause, rng)
    if form == "twice":
        return sentence * rng.choice((2, 3))
    relation = rng.choice(_RELATIONS)
    return sentence + _sentence(_follow_up(topic, relation, rng), rng) + sentence


def _list(rng: random.Random) -> str:
    """The opening clause, then topic nouns strung on commas, drawn from a few so some recur."""
    clause, topic = _opening(rng)
    first = _first_clause(clause)
    if any(c in first for c in ZH_CONNECTORS):
        first = _head(clause, rng).rstrip("，")
    words = _LEXICON[rng.choice(_LIST_CATEGORIES[topic])]
    pool = rng.sample(words, min(len(words), rng.randint(3, 7)))
    items = [rng.choice(pool) for _ in range(rng.randint(5, 12))]
    return "，".join([first, *items])


_ECHO_GLUES = ("", "，", "就是", "，就是", "也就是", "，也就是说", "的意思是")


def _echo(rng: random.Random) -> str:
    """The prompt (or lead) restated once or twice, perhaps trailing off into a word."""
    clause, _ = _opening(rng)
    head = _head(clause, rng)
    core = head.rstrip("，")
    glue = rng.choice(_ECHO_GLUES)
    if head.endswith("，"):
        glue = glue.lstrip("，")  # 在我看来，，就是 would double the comma
    text = head + glue + core
    if rng.random() < 0.3:
        text += "，" + core
    if rng.random() < 0.4:
        text += _lead(_rest(clause, head)[1], 3, rng)
    return _maybe_end(text, 0.4, rng)


def _unpunctuated(rng: random.Random) -> str:
    """A fluent text run together with every punctuation mark after its prompt dropped."""
    text = _text(rng)
    # The prompt is what the model is given, so it keeps its comma (在我看来，).
    prompt = _prompt_of(text)
    return prompt + _PUNCT_SPLIT.sub("", text[len(prompt) :])


_BUILDERS = {
    "fluent": _text,
    "fragment": _fragment,
    "stutter": _stutter,
    "loop": _loop,
    "list": _list,
    "echo": _echo,
    "unpunctuated": _unpunctuated,
}

# A span of 2 to 8 characters said twice in a row, perhaps across a comma: 很好很好, X，X.
_STUTTER = re.compile(r"([^，。！？]{2,8})，?\1")


def _looks_fluent(text: str) -> bool:
    """Whether ``text`` has the form of a fluent text.

    That form: MIN_CHARS to MAX_CHARS characters, a final 。！？, no clause said twice and no span
    said twice in a row. The generator keeps a fluent draw only if it has this form and a degraded
    one only if it has not, so ``zh_corpus_stats`` can count degraded texts from the texts alone.
    """
    if not MIN_CHARS <= len(text) <= MAX_CHARS or text[-1] not in "。！？":
        return False
    clauses = [c for c in _PUNCT_SPLIT.split(text) if c]
    return len(clauses) == len(set(clauses)) and not _STUTTER.search(text)


def generate_zh_texts_with_style(num_texts: int, seed: int) -> list[tuple[str, str]]:
    """``num_texts`` distinct Chinese short texts with their styles (``ZH_STYLES``), from ``seed``.

    Each text draws its style by ``_STYLE_SHARES``: about 57% are "fluent", 1 to 4 sentences and
    MIN_CHARS to MAX_CHARS characters with connectors and full-width punctuation; the rest are
    degraded as a weak model's output is (fragments, stutters, loops, run-on lists, echoes of the
    prompt, no punctuation). Whatever the style, about 68% open with one of ``ZH_PROMPTS`` (each prompt about
    4.5% of texts, "人工智能" twice that since it also begins "人工智能的未来"); the others open on
    the same topics in other ways.
    """
    if num_texts < 0:
        raise ValueError(f"num_texts must be non-negative, got {num_texts}")
    rng = random.Random(seed)
    styles = list(_STYLE_SHARES)
    shares = list(_STYLE_SHARES.values())
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    # The grammar yields far more distinct texts than any corpus asks for; the budget only stops
    # an endless loop if that ever stops being true.
    budget = 50 * num_texts + 1000
    while len(pairs) < num_texts:
        if budget == 0:
            raise ValueError(f"the grammar produced only {len(pairs)} distinct texts")
        budget -= 1
        style = rng.choices(styles, weights=shares)[0]
        text = _BUILDERS[style](rng)
        # A draw whose form belies its style (a fluent text over MAX_CHARS, say) is drawn again.
        if text not in seen and _looks_fluent(text) == (style == "fluent"):
            seen.add(text)
            pairs.append((text, style))
    return pairs


def generate_zh_texts(num_texts: int, seed: int) -> list[str]:
    """The texts of ``generate_zh_texts_with_style``: a deterministic mix of fluent and degraded."""
    return [text for text, _ in generate_zh_texts_with_style(num_texts, seed)]


def _lengths_by_first_char(words: frozenset[str]) -> dict[str, tuple[int, ...]]:
    """First character -> lengths of the words starting with it, longest first."""
    lengths: dict[str, set[int]] = {}
    for word in words:
        lengths.setdefault(word[0], set()).add(len(word))
    return {char: tuple(sorted(ns, reverse=True)) for char, ns in lengths.items()}


_WORD_LENGTHS = _lengths_by_first_char(ZH_LEXICON)

_PUNCT_SPLIT = re.compile(r"[，。！？、：；\s]+")


def _segment(clause: str) -> Iterator[tuple[int, str]]:
    """``(start, word)`` for the ``ZH_LEXICON`` words of a clause, by forward maximum matching."""
    i = 0
    while i < len(clause):
        for n in _WORD_LENGTHS.get(clause[i], ()):
            if clause[i : i + n] in ZH_LEXICON:
                yield i, clause[i : i + n]
                i += n
                break
        else:
            i += 1


def lexicon_words(text: str) -> list[str]:
    """The ``ZH_LEXICON`` words of ``text``, by forward maximum matching.

    At each position the longest lexicon word that starts there is taken; characters that begin
    no word are skipped. Words never span punctuation.
    """
    return [word for clause in _PUNCT_SPLIT.split(text) for _, word in _segment(clause)]


def zh_corpus_stats(texts: Sequence[str]) -> dict[str, float]:
    """Summary statistics of a Chinese corpus.

    Keys: ``num_texts``; ``num_distinct``; ``mean_chars``; ``vocab_size`` (distinct lexicon words
    found by ``lexicon_words``); ``prompt_coverage`` (the smallest, over ``ZH_PROMPTS``, fraction of
    texts starting with that prompt); ``connector_fraction`` (fraction of texts holding at least
    one of ``ZH_CONNECTORS``); ``degraded_fraction`` (fraction of texts without the fluent form of
    ``_looks_fluent``: for a generated corpus, exactly the share of degraded styles).
    """
    n = len(texts)
    if n == 0:
        return dict.fromkeys(
            (
                "num_texts",
                "num_distinct",
                "mean_chars",
                "vocab_size",
                "prompt_coverage",
                "connector_fraction",
                "degraded_fraction",
            ),
            0.0,
        )
    # Clauses repeat across texts; segmenting each distinct clause once keeps this fast.
    clauses = {c for t in texts for c in _PUNCT_SPLIT.split(t)}
    vocab = {w for c in clauses for w in lexicon_words(c)}
    return {
        "num_texts": float(n),
        "num_distinct": float(len(set(texts))),
        "mean_chars": sum(len(t) for t in texts) / n,
        "vocab_size": float(len(vocab)),
        "prompt_coverage": min(sum(t.startswith(p) for t in texts) for p in ZH_PROMPTS) / n,
        "connector_fraction": sum(any(c in t for c in ZH_CONNECTORS) for t in texts) / n,
        "degraded_fraction": sum(not _looks_fluent(t) for t in texts) / n,
    }
