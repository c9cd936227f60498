# language: zh-CN
功能: 年度结转(year_end):清零、按比例结转、永不清零
  结算一年时,按积分类型的政策写一条结转记录;再结算一次不会重复结转。
  新一年的得分从零开始,与余额无关。

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | yellow |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | M1   | H1   | 是   |
    并且 规则文件如下:
      """
      point_types:
        - {key: work, name: 零基积分, holder: person, step: 0.5, period: year, year_end: {policy: reset}}
        - {key: moral, name: 道德积分, holder: household, step: 0.5, period: year, year_end: {policy: carry, percent: 20}, spendable: true}
        - {key: hours, name: 志愿服务时长, holder: person, step: 0.5, period: year, year_end: {policy: never}}
      event_types:
        - key: deed
          name: 好人好事
          subject: person
          fields:
            - {name: n, type: decimal, required: true}
      rules:
        - {id: W, name: 实绩, point_type: work, event: deed, points: {per_unit: {field: n, rate: 1}}}
        - {id: M, name: 文明, point_type: moral, event: deed, points: {per_unit: {field: n, rate: 1}}}
        - {id: H, name: 时长, point_type: hours, event: deed, points: {per_unit: {field: n, rate: 1}}}
      """
    并且 已录入以下事件:
      | 编号 | 类型 | 时间             | 村民 | 字段 |
      | d1   | deed | 2026-05-01 09:00 | M1   | n=13 |

  场景: 零基积分年底清零
    当 结算 work 的 2026 期
    那么 M1 的 work 余额为 0
    并且 M1 共有 2 条 work 记录
    并且 M1 的 work 在 2026 的得分为 13

  场景: 道德积分结转 20%,按步长向下取整(13 × 20% = 2.6 → 2.5)
    当 结算 moral 的 2026 期
    那么 H1 的 moral 余额为 2.5
    当 结算 moral 的 2026 期
    那么 H1 的 moral 余额为 2.5
    并且 H1 共有 2 条 moral 记录

  场景: 志愿服务时长永不清零
    当 结算 hours 的 2026 期
    那么 M1 的 hours 余额为 13
    并且 M1 共有 1 条 hours 记录

  场景: 新一年从零开始计分,结转的余额照常可用
    当 结算 work 的 2026 期
    并且 结算 moral 的 2026 期
    并且 录入以下事件:
      | 编号 | 类型 | 时间             | 村民 | 字段 |
      | d2   | deed | 2027-01-03 09:00 | M1   | n=1  |
    那么 M1 的 work 余额为 1
    并且 M1 的 work 在 2027 的得分为 1
    并且 H1 的 moral 余额为 3.5
    并且 H1 的 moral 在 2027 的得分为 1
    并且 M1 的 hours 余额为 14

  场景: 期满之后才能结转,且须按先后:未结束的、规则生效前的、不按本类型期间的、跳过前一期的,一律拒绝,余额不动
    当 在 2026-11-26 结算 moral 的 2026 期
    那么 结转被拒绝,提示:
      """
      period: 2026 尚未结束(2027-01-01 起才算结束),期满后再结转
      """
    当 在 2027-03-01 结算 moral 的 2025 期
    那么 结转被拒绝,提示:
      """
      period: 2025 在积分规则生效(2026-01-01)之前,没有可结转的积分
      """
    当 在 2027-03-01 结算 moral 的 2026-05 期
    那么 结转被拒绝,提示:
      """
      period: 积分类型 “moral” 不按 2026-05 这样的期间结转;可结转的期间形如:2027
      """
    当 在 2028-01-02 结算 moral 的 2027 期
    那么 结转被拒绝,提示:
      """
      period: 请先结转 2026:期末结转须按时间先后进行
      """
    并且 H1 的 moral 余额为 13
    并且 H1 共有 1 条 moral 记录
    当 在 2028-01-02 结算 moral 的 2026 期
    那么 H1 的 moral 余额为 2.5
    当 在 2028-01-02 结算 moral 的 2027 期
    那么 H1 的 moral 余额为 0.5
    并且 H1 共有 3 条 moral 记录

  场景: 结转按期末的余额:结转前已记入的新一年积分不被清零,也不被折算
    当 录入以下事件:
      | 编号 | 类型 | 时间             | 村民 | 字段 |
      | d3   | deed | 2027-01-03 09:00 | M1   | n=1  |
    并且 在 2027-01-05 结算 work 的 2026 期
    并且 在 2027-01-05 结算 moral 的 2026 期
    那么 M1 的 work 余额为 1
    并且 H1 的 moral 余额为 3.5
    并且 M1 的 work 在 2027 的得分为 1
